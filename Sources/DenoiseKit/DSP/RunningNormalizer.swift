import Foundation

/// Causal mean/variance normalisation of log-power frames, per bin, with statistics of the utterance so far: what
/// streaming denoisers do instead of scaling by a training corpus's statistics (`InputNormKind.running`).
///
/// For each bin b, from the utterance's first frame on, in frame order:
///
///     a_t = max(α, 1 / (t + 1)),  δ = x_t[b] − μ_{t−1}[b]
///     μ_t[b] = μ_{t−1}[b] + a_t · δ,  σ²_t[b] = (1 − a_t) · (σ²_{t−1}[b] + a_t · δ²)
///     y_t[b] = (x_t[b] − μ_t[b]) / √(σ²_t[b] + ε)
///
/// with α = 1 − exp(−frameSeconds / τ), τ = `timeConstantSeconds`. While 1/(t + 1) > α (the first τ or so) the
/// weights are those of a plain average, so μ_t and σ²_t are the mean and biased variance of frames 0…t: the
/// first frame gives μ = x_0, σ² = 0 and y = 0, the second ±1 for a clear change. After that they forget with the
/// time constant τ (West's exponentially weighted update). Frame t's statistics include frame t and nothing later,
/// so y_t depends on frames 0…t only.
///
/// The state (μ, σ², frames seen) belongs to one utterance: each path that runs a network owns one per stream of
/// frames, inside an `InputStage`, and feeds it every frame exactly once, in order (`MaskNet.forward` per sequence
/// of its batch, `MaskNetStream`, `Denoiser`'s windows). Buffers are allocated at init; `normalize` allocates
/// nothing.
final class RunningNormalizer {
    /// τ: how far back the statistics reach, about a second of audio (long enough that a word does not normalise
    /// itself away, short enough to follow a change of noise or level).
    static let timeConstantSeconds = 1.0
    /// ε added to the variance, in squared log-power (nepers²): spreads below 0.1 (under half a dB) count as steady,
    /// so a constant bin (digital silence) gives 0, not a division by zero.
    static let epsilon: Float = 1e-2

    let bins: Int
    /// α, the weight of a new frame once the warm-up is over.
    let alpha: Float
    private let mean: UnsafeMutablePointer<Float>
    private let variance: UnsafeMutablePointer<Float>
    /// Frames normalised since the last `reset`.
    private(set) var framesSeen = 0

    /// `frameSeconds`: time from one frame to the next (hop / sample rate).
    init(bins: Int, frameSeconds: Double) {
        precondition(bins >= 1, "RunningNormalizer needs at least one bin, got \(bins)")
        precondition(frameSeconds > 0, "RunningNormalizer needs a positive frame time, got \(frameSeconds)")
        self.bins = bins
        alpha = Float(1 - exp(-frameSeconds / RunningNormalizer.timeConstantSeconds))
        mean = .allocate(capacity: bins)
        mean.initialize(repeating: 0, count: bins)
        variance = .allocate(capacity: bins)
        variance.initialize(repeating: 0, count: bins)
    }

    deinit {
        mean.deallocate()
        variance.deallocate()
    }

    /// Forgets every frame: the next one starts an utterance.
    func reset() { framesSeen = 0 }

    /// Normalises the next frame x [bins] into y [bins] (y may be x) and takes it into the statistics.
    func normalize(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        let a = max(alpha, 1 / Float(framesSeen + 1)), keep = 1 - a, eps = RunningNormalizer.epsilon
        if framesSeen == 0 {
            // a = 1: μ = x, σ² = 0, whatever the state held.
            mean.update(from: x, count: bins)
            variance.update(repeating: 0, count: bins)
        } else {
            for b in 0..<bins {
                let delta = x[b] - mean[b]
                mean[b] += a * delta
                variance[b] = keep * (variance[b] + a * delta * delta)
            }
        }
        for b in 0..<bins { y[b] = (x[b] - mean[b]) / (variance[b] + eps).squareRoot() }
        framesSeen += 1
    }

    /// Normalises `frames` consecutive frames [frames × bins] as one utterance from its start (resets first).
    func normalizeUtterance(_ x: UnsafePointer<Float>, frames: Int, into y: UnsafeMutablePointer<Float>) {
        reset()
        for t in 0..<frames { normalize(x + t * bins, into: y + t * bins) }
    }
}
