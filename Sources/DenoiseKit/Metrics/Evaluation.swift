import Foundation

/// Scores of one file (and, when the noisy input is known, the same scores of the input).
public struct FileScores: Sendable {
    public let name: String
    public let siSDR: Double
    public let snr: Double
    public let segmentalSNR: Double
    public let stoi: Double
    /// `STOI.bandScores` of the enhanced file, whose mean is `stoi`; nil when it is too short to score.
    public let stoiBands: [Double]?
    public let noisy: (siSDR: Double, snr: Double, segmentalSNR: Double, stoi: Double)?
    /// `STOI.bandScores` of the noisy input; nil when it is too short to score or not known.
    public let noisyStoiBands: [Double]?
}

enum EvaluationError: Error, CustomStringConvertible, Equatable {
    case noCommonFiles(clean: String, enhanced: String)
    var description: String {
        switch self {
        case let .noCommonFiles(clean, enhanced):
            return "no pair to score: no WAV file of \(clean) has a matching one in \(enhanced)"
        }
    }
}

/// Why a clean/enhanced pair cannot be scored as it stands; `name` is the path relative to both folders.
public enum PairProblem: CustomStringConvertible, Equatable, Sendable {
    /// In the clean folder only.
    case missingEnhanced(name: String)
    /// In the enhanced folder only.
    case extraEnhanced(name: String)
    case rateMismatch(name: String, clean: Int, enhanced: Int)
    /// Frames of each at the same rate.
    case lengthMismatch(name: String, clean: Int, enhanced: Int)

    public var description: String {
        switch self {
        case let .missingEnhanced(name): return "\(name): has no enhanced file"
        case let .extraEnhanced(name): return "\(name): enhanced file has no clean reference"
        case let .rateMismatch(name, clean, enhanced):
            return "\(name): clean is \(clean) Hz but enhanced is \(enhanced) Hz"
        case let .lengthMismatch(name, clean, enhanced):
            return "\(name): clean has \(clean) frames but enhanced has \(enhanced)"
        }
    }
}

/// Which pairs of a clean and an enhanced folder can be scored, found from the file names and headers alone.
public struct EvaluationPlan {
    /// Pairs with the same rate and length, to score.
    public let names: [String]
    public let problems: [PairProblem]
    /// Pairs whose header could not be read, with the reason.
    public let unreadable: [(name: String, error: Error)]
}

/// Scores enhanced files against clean references matched by relative path.
public enum Evaluation {
    /// Pairs the folders' WAV files by relative path and checks each pair's rate and length from its headers,
    /// so that a mismatch is found before any scoring and a mean is never taken over fewer files than expected
    /// without saying so.
    public static func plan(clean: URL, enhanced: URL) throws -> EvaluationPlan {
        let cleanFiles = try WAVFiles.relativePaths(under: clean)
        let enhancedFiles = try WAVFiles.relativePaths(under: enhanced)
        let cleanSet = Set(cleanFiles), enhancedSet = Set(enhancedFiles)
        var problems = cleanFiles.filter { !enhancedSet.contains($0) }.map { PairProblem.missingEnhanced(name: $0) }
        problems += enhancedFiles.filter { !cleanSet.contains($0) }.map { PairProblem.extraEnhanced(name: $0) }
        var names: [String] = [], unreadable: [(name: String, error: Error)] = []
        for name in cleanFiles where enhancedSet.contains(name) {
            do {
                let reference = try WAVReader(url: clean.appendingPathComponent(name))
                let estimate = try WAVReader(url: enhanced.appendingPathComponent(name))
                let (rates, lengths) = ((reference.format.sampleRate, estimate.format.sampleRate),
                                        (reference.frameCount, estimate.frameCount))
                if rates.0 != rates.1 {
                    problems.append(.rateMismatch(name: name, clean: rates.0, enhanced: rates.1))
                } else if lengths.0 != lengths.1 {
                    problems.append(.lengthMismatch(name: name, clean: lengths.0, enhanced: lengths.1))
                } else {
                    names.append(name)
                }
            } catch {
                unreadable.append((name, error))
            }
        }
        return EvaluationPlan(names: names, problems: problems, unreadable: unreadable)
    }

    /// Scores the pairs `names`; a pair that fails to load is left out with a warning naming it.
    public static func score(names: [String], clean: URL, enhanced: URL,
                             noisy: URL?) throws -> (scores: [FileScores], warnings: [String]) {
        guard !names.isEmpty else { throw EvaluationError.noCommonFiles(clean: clean.path, enhanced: enhanced.path) }
        let results = concurrentMap(names.count) { i in
            Result { try scoreFile(names[i], clean: clean, enhanced: enhanced, noisy: noisy) }
        }
        var scores: [FileScores] = [], warnings: [String] = []
        for (name, result) in zip(names, results) {
            switch result {
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
        func measure(_ x: [Float]) -> (Double, Double, Double, Double, bands: [Double]?) {
            let bands = STOI.bandScores(clean: reference.samples, processed: x, sampleRate: reference.rate)
            return (SignalMetrics.siSDR(reference: reference.samples, estimate: x),
                    SignalMetrics.snr(reference: reference.samples, estimate: x),
                    SignalMetrics.segmentalSNR(reference: reference.samples, estimate: x, sampleRate: reference.rate),
                    STOI.score(bandScores: bands), bands)
        }
        let e = measure(estimate.samples)
        var n: (Double, Double, Double, Double, bands: [Double]?)?
        if let noisy, FileManager.default.fileExists(atPath: noisy.appendingPathComponent(name).path) {
            n = measure(try load(noisy, rate: reference.rate).samples)
        }
        return FileScores(name: name, siSDR: e.0, snr: e.1, segmentalSNR: e.2, stoi: e.3, stoiBands: e.bands,
                          noisy: n.map { (siSDR: $0.0, snr: $0.1, segmentalSNR: $0.2, stoi: $0.3) },
                          noisyStoiBands: n?.bands)
    }
}

extension Evaluation {
    /// ROC AUC of `model`'s speech probabilities on the noisy files `names` against the frame activity of their
    /// clean references (`SpeechActivity`), over the frames of all files together; nil when the frames hold only
    /// one class. Each noisy file goes through the `Denoiser` as `apply` runs it (channels mixed to mono), and its
    /// clean reference is labelled on the same frames.
    public static func speechAUC(model: DenoiseModel, names: [String], clean: URL,
                                 noisy: URL) throws -> (auc: Double?, frames: Int) {
        var scores: [Float] = [], labels: [Float] = []
        for name in names {
            let (samples, rate) = try WAVFiles.readMono(noisy.appendingPathComponent(name), sampleRate: nil)
            let denoiser = Denoiser(model: model, channelCount: 1, sampleRate: rate,
                                    options: DenoiserOptions(recordsSpeechProbability: true))
            _ = denoiser.process(AudioBuffer(mono: samples, sampleRate: rate))
            _ = denoiser.finish()
            let probabilities = denoiser.takeSpeechProbabilities()
            let reference = try WAVFiles.readMono(clean.appendingPathComponent(name), sampleRate: denoiser.analysisRate)
            let activity = SpeechActivity.labels(clean: reference.samples, config: denoiser.analysisSTFT)
            let frames = min(probabilities.count, activity.count)
            scores += probabilities.prefix(frames)
            labels += activity.prefix(frames)
        }
        return (ROC.areaUnderCurve(scores: scores, labels: labels), scores.count)
    }
}
