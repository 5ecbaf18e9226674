import Foundation

/// `denoise bench`: measure inference and training speed on this machine.
struct BenchCommand: Command {
    let name = "bench"
    let abstract = "Measure denoising speed and training throughput on this machine."
    let usage = ["bench [--quick] [--json]"]
    let options: [Option] = [
        .flag("quick", help: "Run each measurement for a few seconds only (less precise)."),
        .flag("json", help: "Print the results as JSON on stdout instead of a table."),
    ]

    func run(_ arguments: ParsedArguments) throws -> Int32 {
        throw CommandError.notImplemented(name)
    }
}
