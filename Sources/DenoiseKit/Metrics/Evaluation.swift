import Foundation

/// Scores of one file (and, when the noisy input is known, the same scores of the input).
public struct FileScores: Sendable {
    public let name: String
    public let siSDR: Double
    public let snr: Double
    public let segmentalSNR: Double
    public let stoi: Double
    public let noisy: (siSDR: Double, snr: Double, segmentalSNR: Double, stoi: Double)?
}

public enum EvaluationError: Error, CustomStringConvertible, Equatable {
    case noCommonFiles(clean: String, enhanced: String)
    public var description: String {
        switch self {
        case let .noCommonFiles(clean, enhanced): return "no WAV file name is in both \(clean) and \(enhanced)"
        }
    }
}

/// Scores enhanced files against clean references matched by relative path.
public enum Evaluation {
    public static func score(clean: URL, enhanced: URL, noisy: URL?) throws -> (scores: [FileScores], warnings: [String]) {
        let enhancedFiles = Set(try WAVFiles.relativePaths(under: enhanced))
        let names = try WAVFiles.relativePaths(under: clean).filter { enhancedFiles.contains($0) }
        guard !names.isEmpty else { throw EvaluationError.noCommonFiles(clean: clean.path, enhanced: enhanced.path) }
        var results = [Result<FileScores, Error>?](repeating: nil, count: names.count)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: names.count) { i in
            let result = Result { try scoreFile(names[i], clean: clean, enhanced: enhanced, noisy: noisy) }
            lock.lock()
            results[i] = result
            lock.unlock()
        }
        var scores: [FileScores] = [], warnings: [String] = []
        for (name, result) in zip(names, results) {
            switch result! {
            case .success(let s): scores.append(s)
            case .failure(let error): warnings.append("skipped \(name): \(error)")
            }
        }
        return (scores, warnings)
    }

    static func scoreFile(_ name: String, clean: URL, enhanced: URL, noisy: URL?) throws -> FileScores {
        func load(_ folder: URL, rate: Int? = nil) throws -> (samples: [Float], rate: Int) {
            let (samples, sampleRate) = try WAVFiles.readMono(folder.appendingPathComponent(name), sampleRate: rate)
            return (samples, sampleRate)
        }
        let reference = try load(clean)
        let estimate = try load(enhanced, rate: reference.rate)
        func measure(_ x: [Float]) -> (Double, Double, Double, Double) {
            (SignalMetrics.siSDR(reference: reference.samples, estimate: x),
             SignalMetrics.snr(reference: reference.samples, estimate: x),
             SignalMetrics.segmentalSNR(reference: reference.samples, estimate: x, sampleRate: reference.rate),
             STOI.compute(clean: reference.samples, processed: x, sampleRate: reference.rate))
        }
        let e = measure(estimate.samples)
        var n: (Double, Double, Double, Double)?
        if let noisy, FileManager.default.fileExists(atPath: noisy.appendingPathComponent(name).path) {
            n = measure(try load(noisy, rate: reference.rate).samples)
        }
        return FileScores(name: name, siSDR: e.0, snr: e.1, segmentalSNR: e.2, stoi: e.3,
                          noisy: n.map { (siSDR: $0.0, snr: $0.1, segmentalSNR: $0.2, stoi: $0.3) })
    }
}
