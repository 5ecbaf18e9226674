/// Batch normalisation (Ioffe & Szegedy, 2015) per channel, following PyTorch's BatchNorm1d/2d.
///
/// Training: each channel is normalised with the mean and biased variance over all real rows of the
/// batch, y = (x − μ) / √(σ² + ε) · γ[c] + β[c], and the running statistics move towards the batch's:
/// running = (1 − momentum) · running + momentum · batch, using the UNBIASED variance σ²·N/(N − 1)
/// for `runningVariance`. Inference: the running statistics replace the batch's.
///
/// input/output [rows × channels], channels last, rows = utterances × padded frames (NCHW data maps to
/// N·H·W rows × C channels). Padding rows never enter a statistic or a gradient. Unlike GroupNorm, an
/// utterance's output depends on the rest of its batch in training. Parameters: `name.weight` (γ, init 1)
/// and `name.bias` (β, init 0), no weight decay; running statistics are plain state (mean 0, variance 1).
final class BatchNorm: Layer, FoldableNormalization {
    let channels: Int
    let momentum: Float
    let eps: Float
    let gain: Parameter
    let shift: Parameter
    var runningMean: [Float]
    var runningVariance: [Float]

    private let output = Matrix(rows: 0, cols: 0)
    private let inputGradient = Matrix(rows: 0, cols: 0)
    // Cached by forward for backward: the input (a reference), the layout, the mean and 1/√(σ² + ε) per
    // channel that were used, and whether they were batch statistics (then gradients flow through them).
    private var input: Matrix?
    private var layout = SequenceBatch.single(frames: 0)
    private let mean: UnsafeMutablePointer<Float>
    private let invStd: UnsafeMutablePointer<Float>
    private var usedBatchStatistics = false
    // The forward's per-channel affine: scale γ/√(σ² + ε) and offset β − μ·scale.
    private let scale: UnsafeMutablePointer<Float>
    private let offset: UnsafeMutablePointer<Float>
    // Per-channel Double sums (statistics and gradients run over every real row of the batch).
    private let sumA: UnsafeMutablePointer<Double>
    private let sumB: UnsafeMutablePointer<Double>

    init(_ channels: Int, momentum: Float = 0.1, eps: Float = 1e-5, store: ParameterStore, name: String) {
        precondition(channels > 0, "BatchNorm '\(name)' needs a positive channel count, got \(channels)")
        precondition(momentum >= 0 && momentum <= 1,
                     "BatchNorm '\(name)': momentum must lie in [0, 1], got \(momentum)")
        precondition(eps > 0, "BatchNorm '\(name)' needs a positive eps, got \(eps)")
        self.channels = channels
        self.momentum = momentum
        self.eps = eps
        gain = store.add("\(name).weight", shape: [channels], decays: false) { _ in 1 }
        shift = store.add("\(name).bias", shape: [channels], decays: false) { _ in 0 }
        runningMean = [Float](repeating: 0, count: channels)
        runningVariance = [Float](repeating: 1, count: channels)
        mean = .allocate(capacity: channels)
        mean.initialize(repeating: 0, count: channels)
        invStd = .allocate(capacity: channels)
        invStd.initialize(repeating: 1, count: channels)
        scale = .allocate(capacity: channels)
        scale.initialize(repeating: 1, count: channels)
        offset = .allocate(capacity: channels)
        offset.initialize(repeating: 0, count: channels)
        sumA = .allocate(capacity: channels)
        sumA.initialize(repeating: 0, count: channels)
        sumB = .allocate(capacity: channels)
        sumB.initialize(repeating: 0, count: channels)
    }

    deinit {
        mean.deallocate()
        invStd.deallocate()
        scale.deallocate()
        offset.deallocate()
        sumA.deallocate()
        sumB.deallocate()
    }

    func forward(_ input: Matrix, layout: SequenceBatch, training: Bool) -> Matrix {
        checkLayerInput(input, layout: layout, features: channels, layer: "BatchNorm")
        self.input = input
        self.layout = layout
        // Fewer than two real frames carry no variance: such a batch is normalised with the running
        // statistics, which it leaves unchanged.
        let n = layout.realFrames
        usedBatchStatistics = training && n > 1
        let nc = channels, xs = input.data
        if usedBatchStatistics {
            let sumA = self.sumA, sumB = self.sumB
            sumA.update(repeating: 0, count: nc)
            sumB.update(repeating: 0, count: nc)
            // Two passes in Double: mean, then centred squares.
            layout.forEachRealRowRange { range in
                for r in range {
                    let p = xs + r * nc
                    for c in 0..<nc { sumA[c] += Double(p[c]) }
                }
            }
            for c in 0..<nc { sumA[c] /= Double(n) }
            layout.forEachRealRowRange { range in
                for r in range {
                    let p = xs + r * nc
                    for c in 0..<nc {
                        let d = Double(p[c]) - sumA[c]
                        sumB[c] += d * d
                    }
                }
            }
            let m = Double(momentum)
            for c in 0..<nc {
                let variance = sumB[c] / Double(n)
                mean[c] = Float(sumA[c])
                invStd[c] = Float(1 / (variance + Double(eps)).squareRoot())
                let unbiased = variance * Double(n) / Double(n - 1)
                runningMean[c] = Float((1 - m) * Double(runningMean[c]) + m * sumA[c])
                runningVariance[c] = Float((1 - m) * Double(runningVariance[c]) + m * unbiased)
            }
        } else {
            for c in 0..<nc {
                mean[c] = runningMean[c]
                invStd[c] = Float(1 / (Double(runningVariance[c]) + Double(eps)).squareRoot())
            }
        }

        output.resize(rows: input.rows, cols: nc)
        // y = x·a + b with a = γ/√(σ² + ε) and b = β − μ·a per channel: one multiply-add per element.
        let gamma = gain.values, beta = shift.values, ys = output.data, a = scale, b = offset
        for c in 0..<nc {
            a[c] = invStd[c] * gamma[c]
            b[c] = beta[c] - mean[c] * a[c]
        }
        layout.forEachRealRowRange { range in
            for r in range { RowKernel.affine(xs + r * nc, ys + r * nc, nc, scale: a, offset: b) }
        }
        output.zeroPaddingRows(of: layout)
        return output
    }

    /// The output of the last forward (what the next layer received).
    var lastOutput: Matrix { output }

    /// y = the inference forward of one row [channels] (running statistics), for running a network one frame at
    /// a time. Rebuilds the per-channel affine each call, as `forward` does, so it follows the current weights.
    func inferRow(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        let gamma = gain.values, beta = shift.values, a = scale, b = offset
        runningMean.withUnsafeBufferPointer { mean in
            runningVariance.withUnsafeBufferPointer { variance in
                for c in 0..<channels {
                    a[c] = Float(1 / (Double(variance[c]) + Double(eps)).squareRoot()) * gamma[c]
                    b[c] = beta[c] - mean[c] * a[c]
                }
            }
        }
        RowKernel.affine(x, y, channels, scale: a, offset: b)
    }

    /// x̂ = (x − μ)/√(σ² + ε) of the last forward, with the statistics it used, into `result` [rows × channels];
    /// zeros on padding rows.
    func normalizedInput(into result: Matrix) {
        guard let x = input else { preconditionFailure("BatchNorm: normalized input asked before forward") }
        let nc = channels, xs = x.data, mu = mean, inv = invStd
        result.resize(rows: x.rows, cols: nc)
        let out = result.data
        layout.forEachRealRowRange { range in
            for r in range {
                let p = xs + r * nc, q = out + r * nc
                for c in 0..<nc { q[c] = (p[c] - mu[c]) * inv[c] }
            }
        }
        result.zeroPaddingRows(of: layout)
    }

    /// Training: dx = γ/√(σ² + ε) · (dy − mean(dy) − x̂ · mean(dy · x̂)), means over the channel's real rows.
    /// Inference (fixed statistics): dx = γ/√(σ² + ε) · dy. Both: dγ += Σ dy · x̂, dβ += Σ dy.
    func backward(_ gradOutput: Matrix) -> Matrix {
        guard let x = input else { preconditionFailure("BatchNorm.backward called before forward") }
        precondition(gradOutput.rows == x.rows && gradOutput.cols == channels,
                     "BatchNorm.backward: gradient is \(gradOutput.rows)×\(gradOutput.cols), "
                         + "expected \(x.rows)×\(channels)")
        let nc = channels, xs = x.data, dys = gradOutput.data
        inputGradient.resize(rows: x.rows, cols: nc)
        let dxs = inputGradient.data, gamma = gain.values, mu = mean, inv = invStd
        let sumA = self.sumA, sumB = self.sumB
        sumA.update(repeating: 0, count: nc)
        sumB.update(repeating: 0, count: nc)
        // sumA = Σ dy, sumB = Σ dy·x̂ per channel.
        layout.forEachRealRowRange { range in
            for r in range {
                let p = xs + r * nc, dy = dys + r * nc
                for c in 0..<nc {
                    let d = Double(dy[c])
                    sumA[c] += d
                    sumB[c] += d * Double((p[c] - mu[c]) * inv[c])
                }
            }
        }
        // With fixed (running) statistics the centring terms vanish.
        let n = Double(max(layout.realFrames, 1)), batch: Double = usedBatchStatistics ? 1 : 0
        layout.forEachRealRowRange { range in
            for r in range {
                let p = xs + r * nc, dy = dys + r * nc, dx = dxs + r * nc
                for c in 0..<nc {
                    let xhat = (p[c] - mu[c]) * inv[c]
                    let meanDy = Float(batch * sumA[c] / n), meanDyX = Float(batch * sumB[c] / n)
                    dx[c] = gamma[c] * inv[c] * (dy[c] - meanDy - xhat * meanDyX)
                }
            }
        }
        let dGamma = gain.gradient, dBeta = shift.gradient
        for c in 0..<nc {
            dGamma[c] += Float(sumB[c])
            dBeta[c] += Float(sumA[c])
        }
        inputGradient.zeroPaddingRows(of: layout)
        return inputGradient
    }
}
