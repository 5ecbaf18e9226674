/// What building a batch needs, apart from the trainer: the pairs, augmentation and spectral settings, all
/// immutable. Being `Sendable`, it can make batches on a background queue while the trainer's network steps.
struct BatchMaker: Sendable {
    let trainingPairs: any PairSource
    let validationPairs: any PairSource
    let augmentation: Augmentation?
    /// The share of training pairs that augmentation remixes (`TrainingOptions.remixProbability`).
    let remixProbability: Float
    /// Whether batches carry the phase term (`TrainingOptions.phaseWeight` > 0).
    let phase: Bool
    /// Whether batches carry the noisy spectrum and clean samples for the waveform term
    /// (`TrainingOptions.sisdrWeight` > 0).
    let waveform: Bool
    let stft: STFT

    /// The spectra of `pairs` (noisy, clean), without cropping or remixing.
    func spectra(of pairs: [(noisy: [Float], clean: [Float])]) -> BatchSpectra {
        BatchSpectra(pairs: pairs, stft: stft, phase: phase, waveform: waveform)
    }

    /// A training batch: its pairs read, cropped and remixed by augmentation with the batch's own generator. A
    /// remixed pair's noisy recording is not read.
    func training(_ items: [BatchItem], seed: UInt64) throws -> BatchSpectra {
        var batchRNG = RandomGenerator(seed: seed)
        let pairs: [(noisy: [Float], clean: [Float])] = try items.map { item in
            let range = item.start ..< item.start + item.length
            let clean = Array(try trainingPairs.clean(item.utterance)[range])
            if let augmentation, batchRNG.uniform() < remixProbability {
                return augmentation.remix(clean: clean, rng: &batchRNG)
            }
            return (Array(try trainingPairs.noisy(item.utterance)[range]), clean)
        }
        return spectra(of: pairs)
    }

    /// Validation inputs for one batch of validation pairs `indices`.
    func validation(_ indices: [Int]) throws -> ValidationBatch {
        let pairs = try indices.map { try validationPairs.pair($0) }
        return ValidationBatch(spectra: spectra(of: pairs), noisy: pairs.map(\.noisy), clean: pairs.map(\.clean),
                               noisySISDR: pairs.map { SignalMetrics.siSDR(reference: $0.clean, estimate: $0.noisy) })
    }
}

/// Validation inputs for one batch: the spectra, and per utterance the clean samples and the SI-SDR (dB) of the
/// noisy ones, which the enhanced ones are scored against.
struct ValidationBatch: Sendable {
    let spectra: BatchSpectra
    let noisy: [[Float]]
    let clean: [[Float]]
    let noisySISDR: [Double]
}
