import Foundation

/// Adam, and AdamW as its decoupled-decay variant (one implementation), as `torch.optim.Adam`/`AdamW`
/// (no AMSGrad).
///
/// With t the step (from 1), λ the weight decay and λ₁ the L1 strength where they apply:
///
///     Adam:   d = g + λ·w + λ₁·sign(w)
///     AdamW:  w ← w·(1 − lr·λ),  d = g + λ₁·sign(w)
///     m ← m + (1 − β₁)·(d − m)
///     v ← β₂·v + (1 − β₂)·d²
///     w ← w − (lr / (1 − β₁ᵗ))·m / (√v / √(1 − β₂ᵗ) + ε)
///
/// With Adam the L2 term is divided by √v like the gradient, so it barely decays parameters whose
/// gradients are large; AdamW shrinks every decayed weight by the same factor.
/// State: "exp_avg" and "exp_avg_sq" [store.count] (empty before the first step), "step".
final class Adam: Optimizer {
    var learningRate: Float
    var regularization: Regularization
    let beta1: Float
    let beta2: Float
    let epsilon: Float
    /// true: AdamW (decoupled weight decay).
    let decoupled: Bool
    var name: String { (decoupled ? OptimizerKind.adamw : OptimizerKind.adam).rawValue }

    private var firstMoment: [Float] = []
    private var secondMoment: [Float] = []
    private var stepCount = 0
    private static let firstKey = "exp_avg"
    private static let secondKey = "exp_avg_sq"

    init(learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
                decoupled: Bool = false, regularization: Regularization = .init()) {
        precondition(learningRate >= 0, "Adam learning rate must be ≥ 0, got \(learningRate)")
        precondition(beta1 >= 0 && beta1 < 1, "Adam beta1 must be in [0, 1), got \(beta1)")
        precondition(beta2 >= 0 && beta2 < 1, "Adam beta2 must be in [0, 1), got \(beta2)")
        precondition(epsilon >= 0, "Adam epsilon must be ≥ 0, got \(epsilon)")
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.decoupled = decoupled
        self.regularization = regularization
    }

    /// AdamW with PyTorch's default weight decay of 0.01 unless `regularization` says otherwise.
    static func adamW(learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
                             regularization: Regularization = .init(weightDecay: 0.01)) -> Adam {
        Adam(learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon, decoupled: true,
             regularization: regularization)
    }

    func step(_ store: ParameterStore, parallelism: Parallelism) {
        stepCount += 1
        prepareStateBuffer(&firstMoment, count: store.count, name: Self.firstKey)
        prepareStateBuffer(&secondMoment, count: store.count, name: Self.secondKey)
        // Bias corrections in Double, as PyTorch computes them in Python floats.
        let t = Double(stepCount)
        let lr = learningRate, b1 = beta1, b2 = beta2, eps = epsilon, decoupled = decoupled
        let stepSize = Float(Double(lr) / (1 - pow(Double(b1), t)))
        let correction2 = Float((1 - pow(Double(b2), t)).squareRoot())
        let regularization = regularization
        store.markValuesChanged()
        let w = store.values, g = store.gradients
        firstMoment.withUnsafeMutableBufferPointer { first in
            secondMoment.withUnsafeMutableBufferPointer { second in
                guard let m = first.baseAddress, let v = second.baseAddress else { return }
                regularization.forEachTensor(in: store) { range, decay, l1 in
                    let shrink = decoupled ? 1 - lr * decay : 1
                    let coupled = decoupled ? 0 : decay
                    let first = range.lowerBound, count = range.count
                    // The common case (no coupled L2, no L1) gets a loop without the sign branch, which the
                    // compiler vectorises; d = g exactly there, as g + 0·w + 0·sign(w) is for finite w.
                    // Large tensors are split across threads; every element's update is independent.
                    let chunks = parallelism.chunks(elements: count)
                    Parallel.run(chunks) { chunk in
                        let part = Parallel.part(chunk, of: chunks, total: count)
                        let o = first + part.lowerBound
                        let (w, g, m, v) = (w + o, g + o, m + o, v + o)
                        if coupled == 0 && l1 == 0 {
                            Adam.update(w, g, m, v, part.count, shrink: shrink, b1: b1, b2: b2, stepSize: stepSize,
                                        correction2: correction2, eps: eps) { g, _ in g }
                        } else {
                            Adam.update(w, g, m, v, part.count, shrink: shrink, b1: b1, b2: b2, stepSize: stepSize,
                                        correction2: correction2, eps: eps) { g, w in
                                g + coupled * w + l1 * signum(w)
                            }
                        }
                    }
                }
            }
        }
    }

    /// The update of one tensor of `count` values; `direction(g, w)` is d from the gradient and the
    /// (already shrunk) weight.
    @inline(__always)
    private static func update(
        _ w: UnsafeMutablePointer<Float>, _ g: UnsafeMutablePointer<Float>, _ m: UnsafeMutablePointer<Float>,
        _ v: UnsafeMutablePointer<Float>, _ count: Int, shrink: Float, b1: Float, b2: Float, stepSize: Float,
        correction2: Float, eps: Float, direction: (Float, Float) -> Float
    ) {
        for i in 0..<count {
            let wi = w[i] * shrink
            let d = direction(g[i], wi)
            let mi = m[i] + (1 - b1) * (d - m[i])
            let vi = b2 * v[i] + (1 - b2) * d * d
            m[i] = mi
            v[i] = vi
            w[i] = wi - stepSize * mi / (vi.squareRoot() / correction2 + eps)
        }
    }

    var state: [String: [Float]] {
        [StepCounter.key: StepCounter.encode(stepCount), Self.firstKey: firstMoment, Self.secondKey: secondMoment]
    }

    func restore(_ state: [String: [Float]]) throws {
        let step = try StepCounter.decode(state, optimizer: name)
        let buffers = try StepCounter.buffers([Self.firstKey, Self.secondKey], from: state, optimizer: name)
        stepCount = step
        firstMoment = buffers[0]
        secondMoment = buffers[1]
    }
}
