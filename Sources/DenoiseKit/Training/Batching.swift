/// A crop of one utterance: samples `start ..< start + length` of utterance `utterance`.
struct BatchItem: Equatable, Sendable {
    let utterance: Int
    let start: Int
    let length: Int
}

/// Plans an epoch: random crops, grouped by length so that little of each batch is padding,
/// batches in random order. Fully determined by the generator passed in.
enum BatchPlanner {
    static func plan(lengths: [Int], batchSize: Int, cropSamples: Int, rng: inout RandomGenerator) -> [[BatchItem]] {
        precondition(batchSize >= 1 && cropSamples >= 1, "batch size and crop length must be positive")
        var items: [BatchItem] = lengths.enumerated().compactMap { index, length in
            guard length > 0 else { return nil }
            let crop = min(length, cropSamples)
            let start = length > crop ? Int(rng.next() % UInt64(length - crop + 1)) : 0
            return BatchItem(utterance: index, start: start, length: crop)
        }
        // Shuffle first so that equal lengths land in random batches; the sort is stable.
        items.shuffle(using: &rng)
        let sorted = items.enumerated().sorted { ($0.element.length, $0.offset) < ($1.element.length, $1.offset) }.map(\.element)
        var batches = stride(from: 0, to: sorted.count, by: batchSize).map { Array(sorted[$0 ..< min($0 + batchSize, sorted.count)]) }
        batches.shuffle(using: &rng)
        return batches
    }
}

/// Network inputs and targets for one batch, laid out as `SequenceBatch` rows × bins.
public final class SpectralBatch {
    var layout = SequenceBatch(frames: 0, lengths: [])
    /// Real (unpadded) frames in the batch: what a training step's throughput is counted in.
    public var realFrames: Int { layout.realFrames }
    /// Log-power of the noisy input.
    let features = Matrix(rows: 0, cols: 0)
    let noisyMagnitude = Matrix(rows: 0, cols: 0)
    let cleanMagnitude = Matrix(rows: 0, cols: 0)
    /// cos(θX − θS) per bin, for the phase-aware part of the loss; filled only when asked (else empty).
    let phaseCosine = Matrix(rows: 0, cols: 0)
    /// Frame activity of the clean signal [rows × 1], 1 for speech (`SpeechActivity`): the speech head's target.
    let speechLabels = Matrix(rows: 0, cols: 0)

    init() {}

    /// Fills the batch from `pairs` (noisy, clean) of samples.
    func fill(pairs: [(noisy: [Float], clean: [Float])], stft: STFT, phase: Bool = false) {
        let spectra = pairs.map { (stft.analyze($0.noisy), stft.analyze($0.clean)) }
        let bins = stft.config.bins
        let frames = spectra.map { $0.0.frames }.max() ?? 0
        layout = SequenceBatch(frames: frames, lengths: spectra.map { $0.0.frames })
        for m in [features, noisyMagnitude, cleanMagnitude] + (phase ? [phaseCosine] : []) {
            m.resize(rows: layout.rows, cols: bins)
            m.zero()
        }
        if !phase { phaseCosine.resize(rows: 0, cols: bins) }
        speechLabels.resize(rows: layout.rows, cols: 1)
        speechLabels.zero()
        for (b, (noisy, clean)) in spectra.enumerated() {
            let count = noisy.frames * bins, offset = b * frames * bins
            let logPower = Features.logPower(noisy), noisyMag = Features.magnitude(noisy), cleanMag = Features.magnitude(clean)
            (features.data + offset).update(from: logPower, count: count)
            (noisyMagnitude.data + offset).update(from: noisyMag, count: count)
            (cleanMagnitude.data + offset).update(from: cleanMag, count: count)
            if phase { (phaseCosine.data + offset).update(from: Features.phaseCosine(noisy, clean), count: count) }
            (speechLabels.data + b * frames).update(from: SpeechActivity.labels(clean, config: stft.config),
                                                    count: clean.frames)
        }
    }
}
