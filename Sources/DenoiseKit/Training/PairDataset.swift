import Foundation

public enum DatasetError: Error, CustomStringConvertible, Equatable {
    case noPairs(noisy: String, clean: String, noisyFiles: Int, cleanFiles: Int)
    case emptyValidation(Int)
    case noUsablePairs(pairs: Int, reasons: [String])

    public var description: String {
        switch self {
        case let .noPairs(noisy, clean, n, c):
            return "no noisy/clean pairs: \(noisy) has \(n) WAV files and \(clean) has \(c), but no relative path is in both"
        case let .noUsablePairs(pairs, reasons):
            return "none of the \(pairs) pairs could be used: " + reasons.prefix(3).joined(separator: "; ")
                + (reasons.count > 3 ? "; …" : "")
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

/// Noisy/clean WAV pairs matched by relative path under two folders.
public struct PairDataset: Sendable {
    public var utterances: [Utterance]
    /// Things the user should hear about: unmatched files, trimmed lengths, unreadable files.
    public var warnings: [String]

    public init(utterances: [Utterance], warnings: [String] = []) {
        self.utterances = utterances
        self.warnings = warnings
    }

    public var totalSamples: Int { utterances.reduce(0) { $0 + $1.count } }

    /// Loads every pair, downmixed to mono and resampled to `sampleRate`; a pair whose lengths differ
    /// is trimmed to the shorter with a warning, an unreadable one is skipped with a warning.
    public static func load(noisy: URL, clean: URL, sampleRate: Int) throws -> PairDataset {
        let noisyFiles = try WAVFiles.relativePaths(under: noisy), cleanFiles = try WAVFiles.relativePaths(under: clean)
        let cleanSet = Set(cleanFiles), noisySet = Set(noisyFiles)
        let names = noisyFiles.filter { cleanSet.contains($0) }
        guard !names.isEmpty else {
            throw DatasetError.noPairs(noisy: noisy.path, clean: clean.path, noisyFiles: noisyFiles.count,
                                       cleanFiles: cleanFiles.count)
        }
        var warnings: [String] = []
        let unmatched = noisyFiles.filter { !cleanSet.contains($0) } + cleanFiles.filter { !noisySet.contains($0) }
        if !unmatched.isEmpty {
            let shown = unmatched.prefix(10).joined(separator: ", ")
            warnings.append("\(unmatched.count) files have no partner and are ignored: \(shown)\(unmatched.count > 10 ? ", …" : "")")
        }
        // Reading and resampling dominate; spread them over the cores.
        var loaded = [Result<Utterance, Error>?](repeating: nil, count: names.count)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: names.count) { i in
            let result = Result { try loadPair(name: names[i], noisy: noisy, clean: clean, sampleRate: sampleRate) }
            lock.lock()
            loaded[i] = result
            lock.unlock()
        }
        var utterances: [Utterance] = []
        for (name, result) in zip(names, loaded) {
            switch result! {
            case .success(let pair):
                var pair = pair
                if pair.noisy.count != pair.clean.count {
                    let n = min(pair.noisy.count, pair.clean.count)
                    warnings.append("\(name): noisy has \(pair.noisy.count) samples and clean \(pair.clean.count); trimmed to \(n)")
                    pair.noisy.removeLast(pair.noisy.count - n)
                    pair.clean.removeLast(pair.clean.count - n)
                }
                if pair.count > 0 { utterances.append(pair) }
            case .failure(let error):
                warnings.append("skipped \(name): \(error)")
            }
        }
        guard !utterances.isEmpty else { throw DatasetError.noUsablePairs(pairs: names.count, reasons: warnings) }
        return PairDataset(utterances: utterances, warnings: warnings)
    }

    private static func loadPair(name: String, noisy: URL, clean: URL, sampleRate: Int) throws -> Utterance {
        func read(_ folder: URL) throws -> [Float] {
            try WAVFiles.readMono(folder.appendingPathComponent(name), sampleRate: sampleRate).samples
        }
        return Utterance(name: name, noisy: try read(noisy), clean: try read(clean))
    }

    /// Splits off a validation set of `fraction` of the pairs, chosen by a seeded shuffle of files.
    public func split(validationFraction fraction: Double, seed: UInt64) throws -> (train: PairDataset, validation: PairDataset) {
        let count = Int((Double(utterances.count) * fraction).rounded())
        guard count >= 1 && count < utterances.count else { throw DatasetError.emptyValidation(count) }
        var rng = RandomGenerator(seed: seed)
        var order = Array(utterances.indices)
        order.shuffle(using: &rng)
        let validation = order.prefix(count).sorted().map { utterances[$0] }
        let train = order.dropFirst(count).sorted().map { utterances[$0] }
        return (PairDataset(utterances: train, warnings: warnings), PairDataset(utterances: validation))
    }
}
