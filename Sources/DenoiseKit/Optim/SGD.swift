/// Stochastic gradient descent with optional momentum and Nesterov momentum, as `torch.optim.SGD`.
///
/// With d = g + λ·w + λ₁·sign(w) (penalties where they apply), μ the momentum and τ the dampening:
///
///     b ← d                    on the first step (the buffer starts as a copy of d, undampened)
///     b ← μ·b + (1 − τ)·d      afterwards
///     u = d + μ·b (Nesterov)   or   u = b (classic)   or   u = d (μ = 0)
///     w ← w − lr·u
///
/// State: "momentum" [store.count] (empty while μ = 0 or before the first step), "step".
final class SGD: Optimizer {
    var learningRate: Float
    var regularization: Regularization
    let momentum: Float
    let dampening: Float
    let nesterov: Bool
    var name: String { OptimizerKind.sgd.rawValue }

    private var momentumBuffer: [Float] = []
    private var stepCount = 0
    private static let bufferKey = "momentum"

    init(learningRate: Float, momentum: Float = 0, dampening: Float = 0, nesterov: Bool = false,
                regularization: Regularization = .init()) {
        precondition(learningRate >= 0, "SGD learning rate must be ≥ 0, got \(learningRate)")
        precondition(momentum >= 0, "SGD momentum must be ≥ 0, got \(momentum)")
        precondition(!nesterov || (momentum > 0 && dampening == 0),
                     "Nesterov momentum needs momentum > 0 and zero dampening")
        self.learningRate = learningRate
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = nesterov
        self.regularization = regularization
    }

    func step(_ store: ParameterStore, parallelism: Parallelism) {
        stepCount += 1
        let lr = learningRate, mu = momentum, keep = 1 - dampening, nesterov = nesterov
        store.markValuesChanged()
        let w = store.values, g = store.gradients
        guard mu != 0 else {
            regularization.forEachTensor(in: store) { range, decay, l1 in
                for i in range { w[i] -= lr * (g[i] + decay * w[i] + l1 * signum(w[i])) }
            }
            return
        }
        let first = momentumBuffer.isEmpty
        prepareStateBuffer(&momentumBuffer, count: store.count, name: Self.bufferKey)
        let regularization = regularization
        momentumBuffer.withUnsafeMutableBufferPointer { buffer in
            guard let b = buffer.baseAddress else { return }
            regularization.forEachTensor(in: store) { range, decay, l1 in
                for i in range {
                    let d = g[i] + decay * w[i] + l1 * signum(w[i])
                    b[i] = first ? d : mu * b[i] + keep * d
                    w[i] -= lr * (nesterov ? d + mu * b[i] : b[i])
                }
            }
        }
    }

    var state: [String: [Float]] {
        [StepCounter.key: StepCounter.encode(stepCount), Self.bufferKey: momentumBuffer]
    }

    func restore(_ state: [String: [Float]]) throws {
        let step = try StepCounter.decode(state, optimizer: name)
        let buffers = try StepCounter.buffers([Self.bufferKey], from: state, optimizer: name)
        stepCount = step
        momentumBuffer = buffers[0]
    }
}
