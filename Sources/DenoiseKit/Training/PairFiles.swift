import Foundation

/// Noisy/clean WAV pairs on disk, read only when a batch needs them, so memory does not grow with the corpus.
///
/// Scanning reads each file's header only, which gives every pair's length at the model's rate; `pair(_:)` then
/// reads both files, downmixes them to mono, resamples them to the model's rate and trims them to that length,
/// the samples `PairDataset` would hold for the same pair.
public struct PairFiles: PairSource {
    public struct Entry: Equatable, Sendable {
        public let name: String
        public let noisy: URL
        public let clean: URL
        /// Samples at the model's rate: the shorter of the two files.
        public let length: Int
    }

    public let entries: [Entry]
    public let sampleRate: Int
    /// Things the user should hear about: unmatched files, trimmed lengths, unreadable files.
    public var warnings: [String]

    public init(entries: [Entry], sampleRate: Int, warnings: [String] = []) {
        self.entries = entries
        self.sampleRate = sampleRate
        self.warnings = warnings
    }

    public var names: [String] { entries.map(\.name) }
    public var lengths: [Int] { entries.map(\.length) }

    public func noisy(_ index: Int) throws -> [Float] { try read(entries[index].noisy, length: entries[index].length) }
    public func clean(_ index: Int) throws -> [Float] { try read(entries[index].clean, length: entries[index].length) }

    private func read(_ url: URL, length: Int) throws -> [Float] {
        var samples = try WAVFiles.readMono(url, sampleRate: sampleRate).samples
        guard samples.count >= length else {
            throw DatasetError.shorterThanScanned(path: url.path, samples: samples.count, expected: length)
        }
        samples.removeLast(samples.count - length)
        return samples
    }

    /// The pairs of two folders, matched by relative path. A pair whose lengths differ is trimmed to the
    /// shorter and one whose header cannot be read is skipped, each with a warning.
    public static func scan(noisy: URL, clean: URL, sampleRate: Int) throws -> PairFiles {
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
            warnings.append("\(unmatched.count) files have no partner and are ignored: \(shown)"
                            + (unmatched.count > 10 ? ", …" : ""))
        }
        let candidates = names.map {
            (name: $0, noisy: noisy.appendingPathComponent($0), clean: clean.appendingPathComponent($0))
        }
        return try measure(candidates, sampleRate: sampleRate, warnings: warnings)
    }

    /// The pairs a manifest lists, named by their noisy path as written there.
    public static func scan(manifest: PairManifest, sampleRate: Int) throws -> PairFiles {
        let candidates = manifest.rows.map {
            (name: $0.noisy, noisy: manifest.file($0.noisy), clean: manifest.file($0.clean))
        }
        return try measure(candidates, sampleRate: sampleRate, warnings: [])
    }

    private static func measure(_ candidates: [(name: String, noisy: URL, clean: URL)], sampleRate: Int,
                                warnings: [String]) throws -> PairFiles {
        @Sendable func length(_ url: URL) throws -> Int {
            let reader = try WAVReader(url: url)
            return Resampler.outputLength(forInput: reader.frameCount, from: reader.format.sampleRate, to: sampleRate)
        }
        // Opening files dominates on a cold disk; spread it over the cores.
        let measured = concurrentMap(candidates.count) { i in
            Result { (try length(candidates[i].noisy), try length(candidates[i].clean)) }
        }
        var warnings = warnings, entries: [Entry] = []
        for (candidate, result) in zip(candidates, measured) {
            switch result {
            case .success(let (noisy, clean)):
                let n = min(noisy, clean)
                if noisy != clean {
                    warnings.append("\(candidate.name): noisy has \(noisy) samples and clean \(clean); trimmed to \(n)")
                }
                if n > 0 {
                    entries.append(Entry(name: candidate.name, noisy: candidate.noisy, clean: candidate.clean,
                                         length: n))
                }
            case .failure(let error):
                warnings.append("skipped \(candidate.name): \(error)")
            }
        }
        guard !entries.isEmpty else {
            throw DatasetError.noUsablePairs(pairs: candidates.count, reasons: warnings)
        }
        return PairFiles(entries: entries, sampleRate: sampleRate, warnings: warnings)
    }

    /// Splits off a validation set of `fraction` of the pairs: the same pairs `PairDataset.split` picks.
    public func split(validationFraction fraction: Double, seed: UInt64) throws
        -> (train: PairFiles, validation: PairFiles) {
        let (train, validation) = try splitIndices(validationFraction: fraction, seed: seed)
        return (PairFiles(entries: train.map { entries[$0] }, sampleRate: sampleRate, warnings: warnings),
                PairFiles(entries: validation.map { entries[$0] }, sampleRate: sampleRate))
    }

    /// Every pair read into memory. A pair that cannot be read is skipped with a warning.
    public func loaded() throws -> PairDataset {
        // Reading and resampling dominate; spread them over the cores.
        let loaded = concurrentMap(entries.count) { i in
            Result { () throws -> Utterance in
                let (noisy, clean) = try pair(i)
                return Utterance(name: entries[i].name, noisy: noisy, clean: clean)
            }
        }
        var utterances: [Utterance] = [], warnings = self.warnings
        for (entry, result) in zip(entries, loaded) {
            switch result {
            case .success(let utterance): utterances.append(utterance)
            case .failure(let error): warnings.append("skipped \(entry.name): \(error)")
            }
        }
        guard !utterances.isEmpty else { throw DatasetError.noUsablePairs(pairs: entries.count, reasons: warnings) }
        return PairDataset(utterances: utterances, warnings: warnings)
    }
}
