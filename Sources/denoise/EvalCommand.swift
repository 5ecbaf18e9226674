import DenoiseKit
import Foundation

/// `denoise eval`: score enhanced recordings against their clean references.
struct EvalCommand: Command {
    let name = "eval"
    let abstract = "Score enhanced recordings against clean references (SI-SDR, SNR, STOI)."
    let usage = ["eval --clean DIR --enhanced DIR [--noisy DIR] [--csv FILE]",
                 "eval --clean DIR --enhanced DIR --noisy DIR --vad-model MODEL ..."]
    let options: [Option] = [
        .option("clean", value: "DIR", kind: .path, help: "Clean reference recordings.", required: true),
        .option("enhanced", value: "DIR", kind: .path,
                help: "Enhanced recordings, paired with --clean by file name.", required: true),
        .option("noisy", value: "DIR", kind: .path,
                help: "The unprocessed noisy recordings: score them too and report the improvement."),
        .option("csv", value: "FILE", kind: .path, help: "Also write the scores of each file to FILE."),
        .option("vad-model", value: "MODEL", kind: .path,
                help: "Run MODEL (repeatable) on the --noisy recordings and report the ROC AUC of its speech "
                    + "probabilities against the clean recordings' frame activity (a frame is speech within 40 dB "
                    + "of the recording's 99th-percentile frame level and above -60 dBFS), over all frames of the "
                    + "scored files. Models without a speech-probability head are listed as such."),
        .flag("allow-missing",
              help: "Score the pairs that match and warn about the rest. Without it, a clean file with no enhanced "
                  + "one (or the reverse), or a pair whose rates or lengths differ, fails the run with a list."),
        .flag("stoi-bands",
              help: "Also print STOI per one-third-octave band (150 Hz to 3.8 kHz): the mean over the files of each "
                  + "band's envelope correlation, for the enhanced files and, with --noisy, the noisy ones and the "
                  + "gain. Shows in which frequency region intelligibility is lost."),
    ]

    func run(_ arguments: ParsedArguments) throws -> Int32 {
        let settings = try EvalSettings(arguments)
        let plan = try Evaluation.plan(clean: settings.clean, enhanced: settings.enhanced)
        if !plan.problems.isEmpty {
            guard settings.allowMissing else {
                Terminal.reportError("\(settings.clean.path) and \(settings.enhanced.path) do not pair up "
                                     + "(\(plan.problems.count) problem\(plan.problems.count == 1 ? "" : "s"); "
                                     + "--allow-missing scores the pairs that do):")
                for problem in plan.problems { Terminal.writeError("  \(problem)\n") }
                return ExitStatus.failure
            }
            for problem in plan.problems { Terminal.writeError("warning: left out \(problem)\n") }
        }
        var (scores, warnings) = ([FileScores](), plan.unreadable.map { "skipped \($0.name): \($0.error)" })
        if !plan.names.isEmpty {
            let scored = try Evaluation.score(names: plan.names, clean: settings.clean, enhanced: settings.enhanced,
                                              noisy: settings.noisy)
            scores = scored.scores
            warnings += scored.warnings
        }
        for warning in warnings { Terminal.writeError("warning: \(warning)\n") }
        guard !scores.isEmpty else { throw CommandError("no file could be scored") }
        Terminal.writeOut(Self.table(scores))
        if settings.stoiBands { Terminal.writeOut("\n" + Self.bandTable(scores)) }
        if let noisy = settings.noisy, !settings.vadModels.isEmpty {
            let scored = scores.map(\.name).filter {
                FileManager.default.fileExists(atPath: noisy.appendingPathComponent($0).path)
            }
            Terminal.writeOut("\n")
            for url in settings.vadModels {
                let model = try DenoiseModel.load(url: url)
                guard model.hasSpeechHead else {
                    Terminal.writeOut("speech AUC  \(url.path): no speech-probability head\n")
                    continue
                }
                let result = try Evaluation.speechAUC(model: model, names: scored, clean: settings.clean, noisy: noisy)
                let auc = result.auc.map { String(format: "%.4f", $0) } ?? "undefined (one class only)"
                Terminal.writeOut("speech AUC  \(url.path): \(auc) over \(result.frames) frames of "
                                  + "\(scored.count) files\n")
            }
        }
        if let csv = settings.csv {
            try AtomicFile.write(Data(Self.csv(scores).utf8), to: csv)
        }
        // Means over fewer files than asked for are not comparable: make skipped files fail the run.
        return warnings.isEmpty ? ExitStatus.success : ExitStatus.failure
    }

    private static let metrics: [(String, @Sendable (FileScores) -> Double, @Sendable (FileScores) -> Double?)] = [
        ("SI-SDR", { $0.siSDR }, { $0.noisy?.siSDR }),
        ("SNR", { $0.snr }, { $0.noisy?.snr }),
        ("segSNR", { $0.segmentalSNR }, { $0.noisy?.segmentalSNR }),
        ("STOI", { $0.stoi }, { $0.noisy?.stoi }),
    ]

    /// Per-file rows, then the mean of each metric (and of the noisy input and the gain, when known).
    static func table(_ scores: [FileScores]) -> String {
        let meanLabel = "mean (\(scores.count) files)"
        // Wide enough for every label: padding(toLength:) would cut "improvement" to the file names' width.
        let nameWidth = (scores.map(\.name) + ["file", meanLabel, "noisy input", "improvement"]).map(\.count).max() ?? 0
        func row(_ name: String, _ values: [String]) -> String { tableRow(name, width: nameWidth, values) }
        func format(_ label: String, _ value: Double) -> String {
            label == "STOI" ? String(format: "%.3f", value) : String(format: "%.2f", value)
        }
        var text = row("file", metrics.map { $0.0 == "STOI" ? "STOI" : $0.0 + " dB" })
        for s in scores { text += row(s.name, metrics.map { format($0.0, $0.1(s)) }) }
        func mean(_ f: (FileScores) -> Double?) -> Double? {
            let values = scores.compactMap(f)
            return values.count == scores.count ? values.reduce(0, +) / Double(values.count) : nil
        }
        text += "\n" + row(meanLabel, metrics.map { format($0.0, mean($0.1)!) })
        if scores.allSatisfy({ $0.noisy != nil }) {
            text += row("noisy input", metrics.map { format($0.0, mean($0.2)!) })
            text += row("improvement", metrics.map { m in
                let gain = mean(m.1)! - mean(m.2)!
                return (gain >= 0 ? "+" : "") + format(m.0, gain)
            })
        }
        return text
    }

    /// STOI per one-third-octave band: a row per band with its centre frequency and its score averaged over the
    /// files (`FileScores.stoiBands`) and, when every file has a noisy input, the noisy input's and the gain; then
    /// how many files were left out for being too short. The same files count in every column, so the gain
    /// compares like with like.
    static func bandTable(_ scores: [FileScores]) -> String {
        let withNoisy = scores.allSatisfy { $0.noisy != nil }
        let counted = scores.filter { $0.stoiBands != nil && (!withNoisy || $0.noisyStoiBands != nil) }
        let leftOut = scores.count - counted.count
        let files = { (count: Int) in "\(count) file\(count == 1 ? "" : "s")" }
        let note = leftOut == 0 ? "" : "left out: \(files(leftOut)) too short for STOI (under about 0.4 s of speech)\n"
        let title = "STOI per one-third-octave band"
        guard !counted.isEmpty else { return "\(title): no file to average\n" + note }
        func means(_ bands: [[Double]]) -> [Double] {
            STOI.bandCentresHz.indices.map { k in bands.reduce(0) { $0 + $1[k] } / Double(bands.count) }
        }
        let enhanced = means(counted.compactMap(\.stoiBands))
        let noisy = withNoisy ? means(counted.compactMap(\.noisyStoiBands)) : nil
        let header = "band Hz"
        // Columns of 13 so that "improvement" keeps a gap of two before it.
        func row(_ name: String, _ values: [String]) -> String {
            tableRow(name, width: header.count, values, column: 13)
        }
        var text = "\(title), mean of \(files(counted.count)):\n"
        text += row(header, ["enhanced"] + (noisy == nil ? [] : ["noisy", "improvement"]))
        for (k, centre) in STOI.bandCentresHz.enumerated() {
            var values = [String(format: "%.3f", enhanced[k])]
            if let noisy {
                // Rounded first, so that a loss under 0.0005 reads +0.000 rather than -0.000.
                let gain = ((enhanced[k] - noisy[k]) * 1000).rounded() / 1000
                values += [String(format: "%.3f", noisy[k]), String(format: "%+.3f", gain == 0 ? 0 : gain)]
            }
            text += row(String(format: "%.0f", centre), values)
        }
        return text + note
    }

    /// `name` padded to `width`, then each value right-aligned in `column` characters with at least one space.
    private static func tableRow(_ name: String, width: Int, _ values: [String], column: Int = 10) -> String {
        name.padding(toLength: width, withPad: " ", startingAt: 0)
            + values.map { String(repeating: " ", count: max(1, column - $0.count)) + $0 }.joined() + "\n"
    }

    static func csv(_ scores: [FileScores]) -> String {
        var text = "file,si_sdr_db,snr_db,seg_snr_db,stoi,noisy_si_sdr_db,noisy_snr_db,noisy_seg_snr_db,noisy_stoi\n"
        for s in scores {
            let values = [s.siSDR, s.snr, s.segmentalSNR, s.stoi]
                + (s.noisy.map { [$0.siSDR, $0.snr, $0.segmentalSNR, $0.stoi] } ?? [])
            let name = s.name.contains(",") ? "\"\(s.name)\"" : s.name
            text += ([name] + values.map { String(format: "%.4f", $0) }).joined(separator: ",")
                + (s.noisy == nil ? ",,,," : "") + "\n"
        }
        return text
    }
}

/// The checked settings of `eval`.
struct EvalSettings {
    var clean: URL
    var enhanced: URL
    var noisy: URL?
    var csv: URL?
    var allowMissing: Bool
    /// Print the STOI band table after the per-file one.
    var stoiBands: Bool
    /// Models whose speech probabilities are scored.
    var vadModels: [URL]

    init(_ arguments: ParsedArguments) throws {
        guard let clean = arguments.path("clean"), let enhanced = arguments.path("enhanced") else {
            throw UsageError("missing required options --clean and --enhanced")
        }
        if clean.standardizedFileURL == enhanced.standardizedFileURL {
            throw UsageError("--clean and --enhanced are the same folder")
        }
        self.clean = clean
        self.enhanced = enhanced
        noisy = arguments.path("noisy")
        csv = arguments.path("csv")
        allowMissing = arguments.flag("allow-missing")
        stoiBands = arguments.flag("stoi-bands")
        vadModels = arguments.list("vad-model").map(fileURL)
        if !vadModels.isEmpty && noisy == nil {
            throw UsageError("--vad-model runs the model on the noisy recordings: give --noisy DIR")
        }
    }
}
