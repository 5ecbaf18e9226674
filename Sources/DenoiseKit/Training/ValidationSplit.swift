import Foundation

enum ValidationSplitError: Error, CustomStringConvertible, Equatable {
    case unknownSpeaker(String)
    case everyPairHeldOut(speakers: [String])
    case noNoiseClips
    case noSNRs

    var description: String {
        switch self {
        case let .unknownSpeaker(speaker):
            return "no pair's file name begins with '\(speaker)_', so speaker '\(speaker)' cannot be held out"
        case let .everyPairHeldOut(speakers):
            return "holding out speakers \(speakers.joined(separator: ", ")) leaves no pair to train on"
        case .noNoiseClips:
            return "the held-out noise has no clip with samples to mix the validation pairs with"
        case .noSNRs:
            return "the held-out noise needs at least one SNR to be mixed at"
        }
    }
}

/// What validation measures on recordings the model never trained on: held-out speakers (whole speakers, so that
/// the model cannot have learnt their voices) and held-out noise (whole categories, mixed at fixed SNRs).
public enum ValidationSplit {
    /// Leave-noise-out validation SNRs in dB: from a hard −5 dB to an easy 15 dB, each used equally often.
    public static let defaultSNRs: [Float] = [-5, 0, 5, 10, 15]

    /// The speaker of a corpus file: its name up to the last `_` (`libri_5703_001.wav` → `libri_5703`).
    public static func speaker(ofFileName name: String) -> String {
        let stem = ((name as NSString).lastPathComponent as NSString).deletingPathExtension
        guard let underscore = stem.lastIndex(of: "_") else { return stem }
        return String(stem[..<underscore])
    }

    /// Whether `name` (a relative path) is an utterance of `speaker`: its file name begins with `speaker_`.
    /// The underscore keeps `libri_367` from claiming `libri_3670`'s files.
    public static func file(_ name: String, isBy speaker: String) -> Bool {
        (name as NSString).lastPathComponent.hasPrefix(speaker + "_")
    }

    /// Every pair of `speakers` for validation, the rest for training. A speaker with no pair is an error (a typo
    /// would otherwise validate on nothing new).
    public static func holdOut(speakers: [String], from data: PairDataset) throws
        -> (train: PairDataset, validation: PairDataset) {
        let heldOut = try heldOutPairs(speakers: speakers, names: data.names)
        let pairs = Array(zip(data.utterances, heldOut))
        return (PairDataset(utterances: pairs.filter { !$0.1 }.map(\.0), warnings: data.warnings),
                PairDataset(utterances: pairs.filter(\.1).map(\.0)))
    }

    /// The same split of pairs read from disk as they are needed.
    public static func holdOut(speakers: [String], from data: PairFiles) throws
        -> (train: PairFiles, validation: PairFiles) {
        let heldOut = try heldOutPairs(speakers: speakers, names: data.names)
        let pairs = Array(zip(data.entries, heldOut))
        return (PairFiles(entries: pairs.filter { !$0.1 }.map(\.0), sampleRate: data.sampleRate,
                          warnings: data.warnings),
                PairFiles(entries: pairs.filter(\.1).map(\.0), sampleRate: data.sampleRate))
    }

    /// Per pair, whether one of `speakers` spoke it; every speaker must have a pair and some pair must be left.
    private static func heldOutPairs(speakers: [String], names: [String]) throws -> [Bool] {
        for speaker in speakers where !names.contains(where: { file($0, isBy: speaker) }) {
            throw ValidationSplitError.unknownSpeaker(speaker)
        }
        let heldOut = names.map { name in speakers.contains { file(name, isBy: $0) } }
        guard heldOut.contains(false) else { throw ValidationSplitError.everyPairHeldOut(speakers: speakers) }
        return heldOut
    }

    /// How one validation pair was mixed.
    public struct Mix: Equatable, Sendable {
        public let utterance: String
        public let noise: String
        /// Where in the (looped) noise clip the mixture starts, in samples.
        public let offset: Int
        public let snr: Float
    }

    /// Each pair's noisy side replaced by its clean side plus held-out noise, the same for a given seed.
    ///
    /// The pairs are dealt out in a seeded order so that categories take turns (each about equally often, however
    /// many clips a category has) and SNRs take turns independently of them; within a category the clip and the
    /// starting point are drawn.
    public static func mixed(_ validation: PairDataset, noise: [NoiseClip], snrs: [Float] = defaultSNRs,
                             seed: UInt64) throws -> (data: PairDataset, mixes: [Mix]) {
        let clips = noise.filter { !$0.samples.isEmpty }
        guard !clips.isEmpty else { throw ValidationSplitError.noNoiseClips }
        guard !snrs.isEmpty else { throw ValidationSplitError.noSNRs }
        let categories = Array(Set(clips.map(\.category))).sorted()
        let clipsByCategory = categories.map { category in clips.filter { $0.category == category } }
        var rng = RandomGenerator(seed: seed)
        var order = Array(validation.utterances.indices)
        order.shuffle(using: &rng)
        var utterances = validation.utterances
        var mixes = [Mix?](repeating: nil, count: utterances.count)
        for (turn, index) in order.enumerated() {
            let candidates = clipsByCategory[turn % categories.count]
            let clip = candidates[Int(rng.next() % UInt64(candidates.count))]
            let offset = Int(rng.next() % UInt64(clip.samples.count))
            // Shifted by one each round of categories, so that a category meets every SNR.
            let snr = snrs[(turn + turn / categories.count) % snrs.count]
            let clean = utterances[index].clean
            let noiseCrop = (0..<clean.count).map { clip.samples[(offset + $0) % clip.samples.count] }
            utterances[index].noisy = Mixing.mix(clean: clean, noise: noiseCrop, snrDB: snr)
            mixes[index] = Mix(utterance: utterances[index].name, noise: clip.name, offset: offset, snr: snr)
        }
        return (PairDataset(utterances: utterances, warnings: validation.warnings), mixes.compactMap { $0 })
    }
}
