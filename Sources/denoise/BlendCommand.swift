import DenoiseKit
import Foundation

/// `denoise blend FIRST SECOND -o OUT`: a model on the straight line between two models' weights.
struct BlendCommand: Command {
    let name = "blend"
    let abstract = "Interpolate the weights of two models of one architecture, such as a fine-tune and its start."
    let usage = ["blend [<options>] -o OUT FIRST SECOND"]
    let options: [Option] = [
        .option("output", short: "o", value: "FILE", kind: .path, help: "Where to write the new model (.safetensors).",
                required: true),
        .option("weight", value: "W", kind: .float,
                help: "Share of SECOND, in 0...1: every weight is (1 - W) * FIRST + W * SECOND.", default: "0.5"),
        .option("mask-exponent", value: "G", kind: .float,
                help: "The mask exponent apply uses with the new model unless told otherwise (see apply "
                    + "--mask-exponent; default: SECOND's)."),
        .option("atten-limit", value: "DB", kind: .string,
                help: "The attenuation limit apply uses with the new model unless told otherwise (see apply "
                    + "--atten-limit; 'none' for no limit; default: SECOND's)."),
        .flag("float16", help: "Store the weights as 16-bit floats: " + ParsedArguments.float16Effect),
        .flag("force", help: "Overwrite an existing output file (never one of the inputs)."),
    ]
    let positionals = [
        Positional("first", value: "FIRST",
                   help: "The model (.safetensors) at weight 0, e.g. the one a fine-tune started from."),
        Positional("second", value: "SECOND", help: "The model at weight 1, e.g. the fine-tune."),
    ]
    let discussion = """
        A fine-tune on new conditions (noise, rooms, channels) tends to lose some of what its starting model did \
        well. Models between the two often keep most of both (weight-space ensembling, WiSE-FT): blend the two at a \
        few weights and keep the one that scores best on validation recordings of both kinds. The models must share \
        their network, STFT and sample rate; they may differ in dropout and in the speech-probability head, which is \
        copied from the model that has it. The high-band settings, and unless --mask-exponent or --atten-limit is \
        given the mask exponent and the attenuation limit, are SECOND's. The new model records the weight, this \
        command and both models' training summaries, which 'denoise info' shows; it has no validation figures of its \
        own, since neither run's describe it.
        """

    func run(_ arguments: ParsedArguments) throws -> Int32 {
        guard let firstPath = arguments.positional("first"), let secondPath = arguments.positional("second"),
              let output = arguments.path("output"), let weight = arguments.double("weight") else {
            throw UsageError("blend needs FIRST, SECOND and -o OUT")
        }
        guard (0...1).contains(weight) else { throw UsageError("--weight \(weight) is outside 0...1") }
        let first = fileURL(firstPath), second = fileURL(secondPath)
        for input in [first, second] {
            try FileEnhancer.checkOutput(output, input: input, force: arguments.flag("force"))
        }
        let model: DenoiseModel
        do {
            model = try DenoiseModel.load(url: first).interpolated(toward: DenoiseModel.load(url: second),
                                                                   weight: Float(weight))
        } catch let error as ModelInterpolationError {
            throw CommandError("\(firstPath) and \(secondPath): \(error)")
        }
        if let exponent = try arguments.maskExponent() { model.maskExponent = Float(exponent) }
        if let limit = try arguments.attenuationLimit() {
            let level = Float(limit)  // none, or a level past Float's range: no limit
            model.attenuationLimitDB = level.isFinite ? level : nil
        }
        model.blend?.command = CLI.invocation
        try model.save(to: output, precision: arguments.modelPrecision)
        Terminal.writeError("wrote \(output.path): \(Self.percent(1 - weight)) \(firstPath) + "
                            + "\(Self.percent(weight)) \(secondPath)\n")
        return ExitStatus.success
    }

    private static func percent(_ share: Double) -> String { String(format: "%g%%", 100 * share) }
}
