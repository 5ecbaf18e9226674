/// RMSProp, as `torch.optim.RMSprop` (not centred).
///
/// With d = g + λ·w + λ₁·sign(w) (penalties where they apply), α the smoothing constant, μ the momentum:
///
///     v ← α·v + (1 − α)·d²
///     b ← μ·b + d / (√v + ε),  w ← w − lr·b      (μ > 0; b starts at 0)
///     w ← w − lr·d / (√v + ε)                    (μ = 0)
///
/// State: "square_avg" and "momentum" [store.count] (empty before the first step; "momentum" stays
/// empty while μ = 0), "step".
final class RMSProp: Optimizer {
    var learningRate: Float
    var regularization: Regularization
    let alpha: Float
    let epsilon: Float
    let momentum: Float
    var name: String { OptimizerKind.rmsprop.rawValue }

    private var squareAverage: [Float] = []
    private var momentumBuffer: [Float] = []
    private var stepCount = 0
    private static let averageKey = "square_avg"
    private static let momentumKey = "momentum"

    init(learningRate: Float, alpha: Float = 0.99, epsilon: Float = 1e-8, momentum: Float = 0,
                regularization: Regularization = .init()) {
        precondition(learningRate >= 0, "RMSProp learning rate must be ≥ 0, got \(learningRate)")
        precondition(alpha >= 0 && alpha <= 1, "RMSProp alpha must be in [0, 1], got \(alpha)")
        precondition(epsilon >= 0, "RMSProp epsilon must be ≥ 0, got \(epsilon)")
        precondition(momentum >= 0, "RMSProp momentum must be ≥ 0, got \(momentum)")
        self.learningRate = learningRate
        self.alpha = alpha
        self.epsilon = epsilon
        self.momentum = momentum
        self.regularization = regularization
    }

    func step(_ store: ParameterStore, parallelism: Parallelism) {
        stepCount += 1
        prepareStateBuffer(&squareAverage, count: store.count, name: Self.averageKey)
        let lr = learningRate, a = alpha, eps = epsilon, mu = momentum, regularization = regularization
        store.markValuesChanged()
        let w = store.values, g = store.gradients
        if mu > 0 { prepareStateBuffer(&momentumBuffer, count: store.count, name: Self.momentumKey) }
        squareAverage.withUnsafeMutableBufferPointer { average in
            momentumBuffer.withUnsafeMutableBufferPointer { buffer in
                guard let v = average.baseAddress else { return }
                // An empty array may still hand out a base address, so μ decides.
                let b = mu > 0 ? buffer.baseAddress : nil
                regularization.forEachTensor(in: store) { range, decay, l1 in
                    for i in range {
                        let d = g[i] + decay * w[i] + l1 * signum(w[i])
                        v[i] = a * v[i] + (1 - a) * d * d
                        let scaled = d / (v[i].squareRoot() + eps)
                        if let b {
                            b[i] = mu * b[i] + scaled
                            w[i] -= lr * b[i]
                        } else {
                            w[i] -= lr * scaled
                        }
                    }
                }
            }
        }
    }

    var state: [String: [Float]] {
        [StepCounter.key: StepCounter.encode(stepCount), Self.averageKey: squareAverage,
         Self.momentumKey: momentumBuffer]
    }

    func restore(_ state: [String: [Float]]) throws {
        let step = try StepCounter.decode(state, optimizer: name)
        let average = try StepCounter.buffers([Self.averageKey], from: state, optimizer: name)[0]
        // The momentum buffer stays empty while μ = 0, so it is checked on its own.
        let momentumBuffer = try StepCounter.buffers([Self.momentumKey], from: state, optimizer: name)[0]
        if !momentumBuffer.isEmpty && momentumBuffer.count != average.count {
            throw OptimizerError.stateSizeMismatch(optimizer: name, key: Self.momentumKey,
                                                   count: momentumBuffer.count, expected: average.count)
        }
        stepCount = step
        squareAverage = average
        self.momentumBuffer = momentumBuffer
    }
}
