import Foundation

enum DatasetError: Error, CustomStringConvertible, Equatable {
    case noPairs(noisy: String, clean: String, noisyFiles: Int, cleanFiles: Int)
    case emptyValidation(Int)
    case noUsablePairs(pairs: Int, reasons: [String])
    case shorterThanScanned(path: String, samples: Int, expected: Int)

    var description: String {
        switch self {
        case let .noPairs(noisy, clean, n, c):
            return "no noisy/clean pairs: \(noisy) has \(n) WAV files and \(clean) has \(c), "
                + "but no relative path is in both"
        case let .noUsablePairs(pairs, reasons):
            return "none of the \(pairs) pairs could be used: " + reasons.prefix(3).joined(separator: "; ")
                + (reasons.count > 3 ? "; …" : "")
        case let .shorterThanScanned(path, samples, expected):
            return "\(path): holds \(samples) samples at the model's rate, but its header promised \(expected); "
                + "was it changed during training?"
        case let .emptyValidation(count):
            return "a validation split of \(count) pairs leaves no pair for validation or none for training"
        }
    }
}

/// One training pair at the model's sample rate, mono.
public struct Utterance: Sendable {
    public let name: String
    public var noisy: [Float]
    public var clean: [Float]
    public var count: Int { clean.count }
}

/// Noisy/clean pairs held in memory (see `PairFiles` for pairs read from disk as needed).
public struct PairDataset: PairSource {
    public var utterances: [Utterance]
    /// Things the user should hear about: unmatched files, trimmed lengths, unreadable files.
    public var warnings: [String]

    public init(utterances: [Utterance], warnings: [String] = []) {
        self.utterances = utterances
        self.warnings = warnings
    }

    public var names: [String] { utterances.map(\.name) }
    public var lengths: [Int] { utterances.map(\.count) }

    public func noisy(_ index: Int) throws -> [Float] { utterances[index].noisy }
    public func clean(_ index: Int) throws -> [Float] { utterances[index].clean }

    /// Loads every pair, downmixed to mono and resampled to `sampleRate`; a pair whose lengths differ
    /// is trimmed to the shorter with a warning, an unreadable one is skipped with a warning.
    public static func load(noisy: URL, clean: URL, sampleRate: Int) throws -> PairDataset {
        try PairFiles.scan(noisy: noisy, clean: clean, sampleRate: sampleRate).loaded()
    }

    /// Splits off a validation set of `fraction` of the pairs, chosen by a seeded shuffle of files.
    public func split(validationFraction fraction: Double,
                      seed: UInt64) throws -> (train: PairDataset, validation: PairDataset) {
        let (train, validation) = try splitIndices(validationFraction: fraction, seed: seed)
        return (PairDataset(utterances: train.map { utterances[$0] }, warnings: warnings),
                PairDataset(utterances: validation.map { utterances[$0] }))
    }
}

extension PairSource {
    /// The pairs of a validation split of `fraction` of them, chosen by a seeded shuffle, and the rest, both in
    /// pair order.
    func splitIndices(validationFraction fraction: Double, seed: UInt64) throws -> (train: [Int], validation: [Int]) {
        let total = count
        let count = Int((Double(total) * fraction).rounded())
        guard count >= 1 && count < total else { throw DatasetError.emptyValidation(count) }
        var rng = RandomGenerator(seed: seed)
        var order = Array(0..<total)
        order.shuffle(using: &rng)
        return (order.dropFirst(count).sorted(), order.prefix(count).sorted())
    }
}
