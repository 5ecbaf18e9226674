/// AdaGrad, as `torch.optim.Adagrad` (no learning-rate decay, zero initial accumulator).
///
/// With d = g + λ·w + λ₁·sign(w) (penalties where they apply):
///
///     s ← s + d²
///     w ← w − lr·d / (√s + ε)
///
/// State: "sum" [store.count] (empty before the first step), "step".
final class AdaGrad: Optimizer {
    var learningRate: Float
    var regularization: Regularization
    let epsilon: Float
    var name: String { OptimizerKind.adagrad.rawValue }

    private var sum: [Float] = []
    private var stepCount = 0
    private static let bufferKey = "sum"

    init(learningRate: Float, epsilon: Float = 1e-10, regularization: Regularization = .init()) {
        precondition(learningRate >= 0, "AdaGrad learning rate must be ≥ 0, got \(learningRate)")
        precondition(epsilon >= 0, "AdaGrad epsilon must be ≥ 0, got \(epsilon)")
        self.learningRate = learningRate
        self.epsilon = epsilon
        self.regularization = regularization
    }

    func step(_ store: ParameterStore, parallelism: Parallelism) {
        stepCount += 1
        prepareStateBuffer(&sum, count: store.count, name: Self.bufferKey)
        let lr = learningRate, eps = epsilon, regularization = regularization
        store.markValuesChanged()
        let w = store.values, g = store.gradients
        sum.withUnsafeMutableBufferPointer { buffer in
            guard let s = buffer.baseAddress else { return }
            regularization.forEachTensor(in: store) { range, decay, l1 in
                for i in range {
                    let d = g[i] + decay * w[i] + l1 * signum(w[i])
                    s[i] += d * d
                    w[i] -= lr * d / (s[i].squareRoot() + eps)
                }
            }
        }
    }

    var state: [String: [Float]] {
        [StepCounter.key: StepCounter.encode(stepCount), Self.bufferKey: sum]
    }

    func restore(_ state: [String: [Float]]) throws {
        let step = try StepCounter.decode(state, optimizer: name)
        let buffers = try StepCounter.buffers([Self.bufferKey], from: state, optimizer: name)
        stepCount = step
        sum = buffers[0]
    }
}
