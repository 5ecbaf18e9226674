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
        let sorted = items.enumerated()
            .sorted { ($0.element.length, $0.offset) < ($1.element.length, $1.offset) }.map(\.element)
        var batches = stride(from: 0, to: sorted.count, by: batchSize).map {
            Array(sorted[$0 ..< min($0 + batchSize, sorted.count)])
        }
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
    /// The noisy spectrum's real and imaginary parts, for the waveform (SI-SDR) term; filled only when asked.
    let noisyReal = Matrix(rows: 0, cols: 0)
    let noisyImag = Matrix(rows: 0, cols: 0)
    /// Each utterance's clean samples, for the waveform term; empty unless asked.
    private(set) var clean: [[Float]] = []

    init() {}

    /// The batch of `spectra`, made on whichever thread prepared them.
    convenience init(_ spectra: BatchSpectra) {
        self.init()
        load(spectra)
    }

    /// Fills the batch from `pairs` (noisy, clean) of samples.
    func fill(pairs: [(noisy: [Float], clean: [Float])], stft: STFT, phase: Bool = false, waveform: Bool = false) {
        load(BatchSpectra(pairs: pairs, stft: stft, phase: phase, waveform: waveform))
    }

    private func load(_ spectra: BatchSpectra) {
        layout = spectra.layout
        let rows = layout.rows, bins = spectra.bins
        let phaseRows = spectra.phaseCosine.isEmpty ? 0 : rows, waveformRows = spectra.noisyReal.isEmpty ? 0 : rows
        for (m, values, shape) in [(features, spectra.features, (rows, bins)),
                                   (noisyMagnitude, spectra.noisyMagnitude, (rows, bins)),
                                   (cleanMagnitude, spectra.cleanMagnitude, (rows, bins)),
                                   (phaseCosine, spectra.phaseCosine, (phaseRows, bins)),
                                   (speechLabels, spectra.speechLabels, (rows, 1)),
                                   (noisyReal, spectra.noisyReal, (waveformRows, bins)),
                                   (noisyImag, spectra.noisyImag, (waveformRows, bins))] {
            m.resize(rows: shape.0, cols: shape.1)
            values.withUnsafeBufferPointer { source in
                if let base = source.baseAddress { m.data.update(from: base, count: m.count) }
            }
        }
        clean = spectra.clean
    }
}

/// What a `SpectralBatch` holds, as plain arrays (row-major, rows × bins, padded frames zero): a value that a
/// background thread can make and hand over, where the batch's matrices cannot cross threads.
struct BatchSpectra: Sendable {
    let layout: SequenceBatch
    let bins: Int
    let features: [Float]
    let noisyMagnitude: [Float]
    let cleanMagnitude: [Float]
    /// Empty unless the phase term was asked for.
    let phaseCosine: [Float]
    /// rows × 1.
    let speechLabels: [Float]
    /// Empty unless the waveform term was asked for: the noisy spectrum's parts and the clean samples.
    let noisyReal: [Float]
    let noisyImag: [Float]
    let clean: [[Float]]

    init(pairs: [(noisy: [Float], clean: [Float])], stft: STFT, phase: Bool, waveform: Bool = false) {
        let spectra = pairs.map { (stft.analyze($0.noisy), stft.analyze($0.clean)) }
        let bins = stft.config.bins
        let frames = spectra.map { $0.0.frames }.max() ?? 0
        let layout = SequenceBatch(frames: frames, lengths: spectra.map { $0.0.frames })
        var features = [Float](repeating: 0, count: layout.rows * bins)
        var noisyMagnitude = features, cleanMagnitude = features
        var phaseCosine = phase ? features : []
        var noisyReal = waveform ? features : [], noisyImag = noisyReal
        var speechLabels = [Float](repeating: 0, count: layout.rows)
        for (b, (noisy, clean)) in spectra.enumerated() {
            let count = noisy.frames * bins, offset = b * frames * bins
            features.replaceSubrange(offset ..< offset + count, with: Features.logPower(noisy).prefix(count))
            noisyMagnitude.replaceSubrange(offset ..< offset + count, with: Features.magnitude(noisy).prefix(count))
            cleanMagnitude.replaceSubrange(offset ..< offset + count, with: Features.magnitude(clean).prefix(count))
            if phase {
                phaseCosine.replaceSubrange(offset ..< offset + count,
                                            with: Features.phaseCosine(noisy, clean).prefix(count))
            }
            if waveform {
                noisyReal.replaceSubrange(offset ..< offset + count, with: noisy.real.prefix(count))
                noisyImag.replaceSubrange(offset ..< offset + count, with: noisy.imag.prefix(count))
            }
            let labelOffset = b * frames
            speechLabels.replaceSubrange(labelOffset ..< labelOffset + clean.frames,
                                         with: SpeechActivity.labels(clean, config: stft.config).prefix(clean.frames))
        }
        self.layout = layout
        self.bins = bins
        self.features = features
        self.noisyMagnitude = noisyMagnitude
        self.cleanMagnitude = cleanMagnitude
        self.phaseCosine = phaseCosine
        self.speechLabels = speechLabels
        self.noisyReal = noisyReal
        self.noisyImag = noisyImag
        self.clean = waveform ? pairs.map(\.clean) : []
    }
}
