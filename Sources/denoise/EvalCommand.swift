import Foundation

/// `denoise eval`: score enhanced recordings against their clean references.
struct EvalCommand: Command {
    let name = "eval"
    let abstract = "Score enhanced recordings against clean references (SI-SDR, SNR, STOI)."
    let usage = ["eval --clean DIR --enhanced DIR [--noisy DIR] [--csv FILE]"]
    let options: [Option] = [
        .option("clean", value: "DIR", kind: .path, help: "Clean reference recordings.", required: true),
        .option("enhanced", value: "DIR", kind: .path,
                help: "Enhanced recordings, paired with --clean by file name.", required: true),
        .option("noisy", value: "DIR", kind: .path,
                help: "The unprocessed noisy recordings: score them too and report the improvement."),
        .option("csv", value: "FILE", kind: .path, help: "Also write the scores of each file to FILE."),
    ]

    func run(_ arguments: ParsedArguments) throws -> Int32 {
        _ = try EvalSettings(arguments)
        throw CommandError.notImplemented(name)
    }
}

/// The checked settings of `eval`.
struct EvalSettings {
    var clean: URL
    var enhanced: URL
    var noisy: URL?
    var csv: URL?

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
    }
}
