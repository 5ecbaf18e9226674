import DenoiseKit
import Foundation
import Synchronization

/// `denoise apply`: denoise one file (IN OUT) or many (-o DIR with files and folders).
struct ApplyCommand: Command {
    let name = "apply"
    let abstract = "Remove noise from WAV files with a trained model."
    let usage = [
        "apply [<options>] IN.wav OUT.wav",
        "apply [<options>] -o OUT_DIR IN.wav|IN_DIR ...",
    ]
    let options: [Option] = [
        .option("model", short: "m", value: "MODEL", kind: .path,
                help: "Model file (.safetensors). Without it: $DENOISE_MODEL, a model beside the executable, "
                    + "or the bundled default model."),
        .option("atten-limit", value: "DB", kind: .string,
                help: "Attenuate by at most DB decibels (20 keeps at least 10% of the signal's amplitude), in every "
                    + "band, the one above the model's included. Default: the model's own, shown by `denoise info` "
                    + "(most models have none); 'none' lifts it."),
        .option("mask-exponent", value: "G", kind: .float,
                help: "Raise the mask to the power G: below 1 keeps more speech and more noise, above 1 removes more "
                    + "of both (default: the model's own, shown by `denoise info`; 1 for most models)."),
        .option("mix", value: "W", kind: .float,
                help: "Output W x denoised + (1 - W) x the input as read: a W below 1 keeps some of the background, "
                    + "0 gives back the input sample for sample.",
                default: "1"),
        .flag("per-channel",
              help: "Denoise each channel on its own (by default one mask, computed from the mix of the channels, "
                  + "is applied to all of them, which keeps the stereo image)."),
        .option("output-dir", short: "o", value: "OUT_DIR", kind: .path,
                help: "Write the outputs into OUT_DIR, named after the inputs; folders are searched for .wav files."),
        .option("suffix", value: "S", help: "With -o: add S to each output's name before .wav."),
        .option("jobs", short: "j", value: "N", kind: .int,
                help: "With -o: files denoised at once (default: the number of cores)."),
        .option("shard", value: "K/N", kind: .string,
                help: "With -o: denoise only share K of N (1 <= K <= N), chosen by a hash of each input's path "
                    + "within its folder, so N runs (e.g. a cluster array job) cover every file once."),
        .flag("skip-existing",
              help: "Skip inputs whose output is already complete (a rerun finishes an interrupted batch)."),
        .option("report", value: "FILE", kind: .path,
                help: "Append one JSON line per input to FILE as it finishes: input, output, status "
                    + "(done/skipped/failed), error, duration_s, seconds, clipped, truncated."),
        .option("vad", value: "FILE.csv", kind: .path,
                help: "Also write the model's speech probability of each frame to FILE.csv (header "
                    + "time_s,speech_probability; time_s is the frame's index times the hop). One input only, and a "
                    + "model with a speech-probability head (see `denoise info`); with --per-channel, the mean over "
                    + "the channels."),
        .flag("force", help: "Overwrite existing output files (inputs are never overwritten; folders, pipes and "
                  + "devices never are)."),
        .flag("verbose", short: "v", help: "Print the file names, durations and speed of each file."),
    ]
    let discussion = """
        Outputs keep the input's rate, channels, sample format and length. The network cleans the model's band \
        (0-8 kHz for a 16 kHz model); at higher rates the band above it is kept and gets one gain per frame from \
        the mask (`denoise info MODEL` shows how), so 44.1 and 48 kHz recordings keep their top octave.
        """
    let positionals = [
        Positional("inputs", value: "INPUT", help: "IN.wav OUT.wav (- for standard input or output: a pipe is "
                       + "denoised as it arrives), or with -o: WAV files and folders of them.",
                   repeated: true, required: false),
    ]

    func run(_ arguments: ParsedArguments) throws -> Int32 {
        let settings = try ApplySettings(arguments)
        let located = try ModelLocator.locate(explicit: settings.model)
        let file = try SafeTensors.read(url: located.url)
        let model = try DenoiseModel(safeTensors: file, path: located.url.path)
        if settings.verbose { Terminal.writeError("model: \(located.url.path) (\(located.source))\n") }
        let options = DenoiserOptions(attenuationLimitDB: settings.attenuationLimit.map(Float.init),
                                      mix: Float(settings.mix),
                                      maskExponent: settings.maskExponent.map(Float.init),
                                      perChannel: settings.perChannel)
        let interrupt = InterruptMonitor.shared
        interrupt.install(notice: "stopping: finishing no further files; partial outputs are discarded")
        defer { interrupt.uninstall() }

        let report = try settings.report.map { try BatchReport(url: $0) }
        if let vad = settings.vad {
            guard model.hasSpeechHead else {
                throw UsageError("--vad: \(located.url.path) has no speech-probability head "
                                 + "(train one with --vad-weight, or fine-tune this one with --init)")
            }
            try FileEnhancer.checkOutput(vad, input: settings.singleInput, force: settings.force)
        }
        let speechTable = settings.vad.map { _ in SpeechProbabilityTable() }

        switch settings.mode {
        case let .pipe(input, output):
            // A live stream wants its output soon: the engine's default chunk (1024 frames, 16 s at the default
            // hop) would hold it back that long. A quarter of a second costs a few more margin frames per chunk.
            var options = options
            options.chunkFrames = max(1, model.sampleRate / 4 / model.stft.hop)
            let reader = try input.map { try WAVReader(url: $0) }
                ?? WAVReader(fileDescriptor: STDIN_FILENO, name: "stdin")
            if let output { try FileEnhancer.checkOutput(output, input: input, force: settings.force) }
            let writer = try output.map { try WAVWriter(url: $0, format: reader.format) }
                ?? WAVWriter(fileDescriptor: STDOUT_FILENO, name: "stdout", format: reader.format)
            let fileReport: FileReport
            do {
                fileReport = try FileEnhancer.enhance(reader: reader, writer: writer, model: model, options: options,
                                                      shouldStop: { interrupt.isRequested },
                                                      speechProbability: speechTable?.append)
            } catch where interrupt.isRequested {
                return interrupt.exitStatus  // e.g. the reader of stdout went away (SIGPIPE): nothing more to say
            }
            if let speechTable, let vad = settings.vad { try AtomicFile.write(speechTable.data, to: vad) }
            Self.warn(about: fileReport)
            if settings.verbose { Terminal.writeError(Self.describe(fileReport) + "\n") }
            return ExitStatus.success
        case let .single(input, output):
            let item = BatchFile(input: input, output: output, key: input.lastPathComponent)
            if settings.skipExisting && BatchJob.isComplete(output) {
                try report?.append(.skipped, for: item)
                if settings.verbose { Terminal.writeError("\(output.path): already exists; skipped\n") }
                return ExitStatus.success
            }
            let fileReport: FileReport
            do {
                fileReport = try FileEnhancer.enhance(input: input, output: output, model: model, options: options,
                                                      force: settings.force, shouldStop: { interrupt.isRequested },
                                                      speechProbability: speechTable?.append)
                if let speechTable, let vad = settings.vad { try AtomicFile.write(speechTable.data, to: vad) }
            } catch EnhanceError.interrupted {
                return interrupt.exitStatus
            } catch {
                try report?.append(.failed(error), for: item)
                throw error
            }
            try report?.append(.done(fileReport), for: item)
            Self.warn(about: fileReport)
            if settings.verbose { Terminal.writeError(Self.describe(fileReport) + "\n") }
            return ExitStatus.success
        case let .batch(inputs, outputDirectory):
            let planned = try BatchJob.plan(inputs: inputs, outputDirectory: outputDirectory, suffix: settings.suffix)
            let items = settings.shard.map { shard in planned.filter { shard.contains(key: $0.key) } } ?? planned
            if let shard = settings.shard, settings.verbose {
                Terminal.writeError("shard \(shard): \(items.count) of \(planned.count) files\n")
            }
            let jobs = max(1, min(settings.jobs, items.count))
            let progress = ProgressReporter(label: "denoising", total: items.count, unit: "files")
            let started = Date()
            let tally = BatchTally()
            let verbose = settings.verbose
            let failures = try BatchJob.run(
                items: items, model: file, modelPath: located.url.path, jobs: jobs, options: options,
                force: settings.force, skipExisting: settings.skipExisting, shouldStop: { interrupt.isRequested }
            ) { outcome, item in
                switch outcome {
                case .done(let fileReport):
                    tally.counts.withLock { $0.audioSeconds += fileReport.duration }
                    if verbose { Terminal.writeError(Self.describe(fileReport) + "\n") }
                    Self.warn(about: fileReport)
                case .skipped:
                    tally.counts.withLock { $0.skipped += 1 }
                    if verbose { Terminal.writeError("\(item.output.path): already exists; skipped\n") }
                case .failed(let error):
                    Terminal.reportError(Self.describe(error, of: item))
                }
                do {
                    try report?.append(outcome, for: item)
                } catch {
                    tally.counts.withLock { $0.reportError = $0.reportError ?? error }
                }
                progress.advance()
            }
            progress.finish()
            let (audioSeconds, skipped, reportError) = tally.counts.withLock {
                ($0.audioSeconds, $0.skipped, $0.reportError)
            }
            let seconds = Date().timeIntervalSince(started)
            let done = items.count - failures.count - skipped
            let skippedText = skipped > 0 ? ", \(skipped) skipped as already done" : ""
            Terminal.writeError(String(format: "%d of %d file%@ denoised%@ (%.1f s of audio in %.1f s, "
                                       + "real-time factor %.4f)\n", done, items.count, items.count == 1 ? "" : "s",
                                       skippedText, audioSeconds, seconds,
                                       audioSeconds > 0 ? seconds / audioSeconds : 0))
            if let reportError { throw reportError }
            if interrupt.isRequested { return interrupt.exitStatus }
            guard failures.isEmpty else {
                Terminal.writeError("\(failures.count) failed:\n")
                for (item, error) in failures { Terminal.writeError("  \(Self.describe(error, of: item))\n") }
                return ExitStatus.failure
            }
            return ExitStatus.success
        }
    }

    /// Clipping, an input read only in part, and a format the output could not keep: said on stderr, since the
    /// output exists but is not quite what was asked for.
    static func warn(about report: FileReport) {
        let output = report.output.path
        for warning in report.warnings { Terminal.writeError("warning: \(warning)\n") }
        if report.clippedSamples > 0 {
            Terminal.writeError("warning: \(output): \(report.clippedSamples) samples clipped to full scale\n")
        }
        if report.inputFormat.sampleFormat != report.outputFormat.sampleFormat {
            Terminal.writeError("note: \(output): written as \(report.outputFormat.sampleFormat) "
                                + "(\(report.inputFormat.sampleFormat) is read but not written)\n")
        }
    }

    /// The error as one line naming the file. Most errors already start with a path (the input's or the
    /// output's, as given or absolute); prefixing the input's path again would name it twice.
    static func describe(_ error: Error, of item: BatchFile) -> String {
        let text = "\(error)"
        let paths = [item.input.path, item.input.relativePath, item.output.path, item.output.relativePath]
        return paths.contains { text.hasPrefix($0 + ":") } ? text : "\(item.input.path): \(text)"
    }

    static func describe(_ report: FileReport) -> String {
        String(format: "%@ → %@: %.2f s of audio in %.3f s (real-time factor %.4f)",
               report.input.path, report.output.path,
               report.duration, report.seconds, report.realTimeFactor)
    }
}

/// The rows of `apply --vad`, kept until the input is done so that a failed run leaves no partial CSV.
final class SpeechProbabilityTable {
    private var text = "time_s,speech_probability\n"
    private var frames = 0

    func append(_ probabilities: [Float], frameSeconds: Double) {
        for probability in probabilities {
            text += String(format: "%.3f,%.3f\n", Double(frames) * frameSeconds, probability)
            frames += 1
        }
    }

    var data: Data { Data(text.utf8) }
}

/// The checked settings of `apply`.
struct ApplySettings {
    enum Mode {
        /// Either end is standard input or output ("-"), given here as nil.
        case pipe(input: URL?, output: URL?)
        case single(input: URL, output: URL)
        case batch(inputs: [URL], outputDirectory: URL)
    }

    var mode: Mode
    var model: URL?
    /// Largest attenuation in dB; nil for none.
    var attenuationLimit: Double?
    /// Weight of the denoised signal in the output, in [0, 1].
    var mix: Double
    /// nil: the model's own.
    var maskExponent: Double?
    var perChannel: Bool
    var suffix: String
    var jobs: Int
    var force: Bool
    var verbose: Bool
    /// nil: every file.
    var shard: Shard?
    var skipExisting: Bool
    var report: URL?
    /// Where `--vad` writes the speech probabilities (one input only).
    var vad: URL?

    /// The input file of a one-file run (nil for a batch or standard input).
    var singleInput: URL? {
        switch mode {
        case let .single(input, _): return input
        case let .pipe(input, _): return input
        case .batch: return nil
        }
    }

    init(_ arguments: ParsedArguments) throws {
        let inputs = arguments.positionals("inputs")
        vad = arguments.path("vad")
        if arguments.string("vad") == "-" {
            throw UsageError("--vad needs a file name: standard output carries the audio or nothing")
        }
        if let directory = arguments.path("output-dir") {
            if arguments.has("vad") {
                throw UsageError("--vad writes the speech probabilities of one input: it does not apply to a batch "
                                 + "(-o OUT_DIR); give IN.wav OUT.wav")
            }
            guard !inputs.isEmpty else {
                throw UsageError("missing input: give the WAV files or folders to denoise after -o OUT_DIR")
            }
            if arguments.string("output-dir") == "-" || inputs.contains("-") {
                throw UsageError("- (standard input or output) works only for one file: apply - -")
            }
            mode = .batch(inputs: inputs.map(fileURL), outputDirectory: directory)
            shard = try arguments.string("shard").map { text in
                guard let shard = Shard(parsing: text) else {
                    throw arguments.invalidValue("shard", expected: "K/N with 1 <= K <= N, e.g. 2/8")
                }
                return shard
            }
        } else {
            switch inputs.count {
            case 0: throw UsageError("missing arguments <IN.wav> <OUT.wav>")
            case 1: throw UsageError("missing argument <OUT.wav> (or give -o OUT_DIR to write into a folder)")
            case 2: break
            default: throw UsageError("too many arguments: to denoise several files, give -o OUT_DIR")
            }
            if inputs.contains("-") {
                for option in ["suffix", "jobs", "shard", "skip-existing", "report"] where arguments.has(option) {
                    throw UsageError("--\(option) does not apply to standard input or output")
                }
                if inputs[1] != "-" && fileURL(inputs[1]).pathExtension.lowercased() != "wav" {
                    throw UsageError("OUT.wav must end in .wav: '\(inputs[1])' would hold WAV data under another name")
                }
                mode = .pipe(input: inputs[0] == "-" ? nil : fileURL(inputs[0]),
                             output: inputs[1] == "-" ? nil : fileURL(inputs[1]))
                shard = nil
                model = arguments.path("model")
                attenuationLimit = try arguments.attenuationLimit()
                maskExponent = try arguments.maskExponent()
                mix = try arguments.defaultedDouble("mix", expected: "a weight between 0 and 1") {
                    (0...1).contains($0)
                }
                perChannel = arguments.flag("per-channel")
                suffix = ""
                jobs = 1
                force = arguments.flag("force")
                verbose = arguments.flag("verbose")
                skipExisting = false
                report = nil
                return
            }
            let input = fileURL(inputs[0]), output = fileURL(inputs[1])
            if input.standardizedFileURL.path == output.standardizedFileURL.path {
                throw UsageError("OUT.wav '\(inputs[1])' is the input file: apply never overwrites its input")
            }
            for option in ["suffix", "jobs", "shard"] where arguments.has(option) {
                throw UsageError("--\(option) applies only to a batch: give -o OUT_DIR")
            }
            // Anything else would be WAV bytes under a name that promises another format (x.flac, x.mp3).
            guard output.pathExtension.lowercased() == "wav" else {
                throw UsageError("OUT.wav must end in .wav: '\(inputs[1])' would hold WAV data under another name")
            }
            mode = .single(input: input, output: output)
            shard = nil
        }
        if let vad, case let .single(input, output) = mode,
           [input, output].contains(where: { $0.standardizedFileURL.path == vad.standardizedFileURL.path }) {
            throw UsageError("--vad FILE.csv names the input or the output WAV: give the CSV a name of its own")
        }
        model = arguments.path("model")
        attenuationLimit = try arguments.attenuationLimit()
        maskExponent = try arguments.maskExponent()
        mix = try arguments.defaultedDouble("mix", expected: "a weight between 0 and 1") { (0...1).contains($0) }
        perChannel = arguments.flag("per-channel")
        suffix = arguments.string("suffix") ?? ""
        if suffix.contains("/") { throw UsageError("invalid value '\(suffix)' for --suffix: it may not contain '/'") }
        jobs = try arguments.int("jobs", expected: "at least 1") { $0 >= 1 }
            ?? ProcessInfo.processInfo.activeProcessorCount
        force = arguments.flag("force")
        verbose = arguments.flag("verbose")
        skipExisting = arguments.flag("skip-existing")
        report = arguments.path("report")
        if skipExisting && force {
            throw UsageError("--skip-existing and --force contradict each other: keep outputs or replace them")
        }
    }
}

/// What the outcomes of a batch add up to, filled in from the workers' threads.
private final class BatchTally: Sendable {
    let counts = Mutex<(audioSeconds: Double, skipped: Int, reportError: Error?)>((0, 0, nil))
}
