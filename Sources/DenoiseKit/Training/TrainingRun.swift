import Foundation

/// The files of a training run in RUN_DIR: `model.safetensors` (best validation epoch so far),
/// `checkpoint.safetensors` (last full epoch, for --resume), `metrics.csv`, `loss.svg`, and, written once at
/// the start, `config.json`, `validation.txt` (the validation pairs, a relative path a line) and, with held-out
/// noise, `validation-noise.csv` (how each validation pair was mixed). Every file is replaced atomically, so an
/// interrupted run always leaves a consistent, resumable folder.
public struct TrainingRun {
    public let directory: URL
    /// How `model.safetensors` stores its weights. The checkpoint is float32 whatever this says, so a resumed run
    /// continues from the weights as they were, not rounded.
    public let modelPrecision: SafeTensors.Precision

    public init(directory: URL, modelPrecision: SafeTensors.Precision = .float32) {
        self.directory = directory
        self.modelPrecision = modelPrecision
    }

    public var modelURL: URL { directory.appendingPathComponent("model.safetensors") }
    public var checkpointURL: URL { directory.appendingPathComponent("checkpoint.safetensors") }
    public var metricsURL: URL { directory.appendingPathComponent("metrics.csv") }
    var plotURL: URL { directory.appendingPathComponent("loss.svg") }
    var configURL: URL { directory.appendingPathComponent("config.json") }
    public var validationListURL: URL { directory.appendingPathComponent("validation.txt") }
    public var validationMixesURL: URL { directory.appendingPathComponent("validation-noise.csv") }

    /// Writes everything an epoch changes. `improved` says whether this epoch is the best so far.
    public func save(trainer: Trainer, improved: Bool, summary: TrainingSummary) throws {
        if improved {
            trainer.model.training = summary
            try trainer.withAveragedWeights { try trainer.model.save(to: modelURL, precision: modelPrecision) }
        }
        try trainer.checkpoint().write(to: checkpointURL)
        try AtomicFile.write(Data(TrainingRun.csv(trainer.history).utf8), to: metricsURL)
        try AtomicFile.write(Data(LossPlot.svg(history: trainer.history).utf8), to: plotURL)
    }

    /// Once the run has ended: the best model's summary, written at its epoch when fewer had run, gets the run's
    /// whole length and time, so that `info` says "60 epochs, best 47" rather than "47 epochs, best 47".
    public func recordEnd(epochs: Int, trainingSeconds: Double) throws {
        let model = try DenoiseModel.load(url: modelURL)
        guard var summary = model.training, summary.epochs != epochs else { return }
        summary.epochs = epochs
        summary.trainingSeconds = trainingSeconds
        model.training = summary
        try model.save(to: modelURL, precision: modelPrecision)
    }

    public func saveConfig(model: DenoiseModel, options: TrainingOptions) throws {
        let text = """
        {
          "masknet": \(DenoiseModel.json(model.net.config)),
          "stft": \(DenoiseModel.json(model.stft)),
          "sample_rate": \(model.sampleRate),
          "training": \(DenoiseModel.json(options))
        }

        """
        try AtomicFile.write(Data(text.utf8), to: configURL)
    }

    public func saveValidationList(_ validation: any PairSource) throws {
        let text = validation.names.map { $0 + "\n" }.joined()
        try AtomicFile.write(Data(text.utf8), to: validationListURL)
    }

    /// The validation pairs recorded by `saveValidationList`; nil for a run that has none.
    public func validationList() throws -> [String]? {
        guard FileManager.default.fileExists(atPath: validationListURL.path) else { return nil }
        return try String(contentsOf: validationListURL, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    /// The noise clip, starting sample and SNR of each validation pair mixed with held-out noise
    /// (`ValidationSplit.mixed`), so that scores can be broken down by noise category and SNR, and a resumed run
    /// can check that it validates on the same mixes.
    public func saveValidationMixes(_ mixes: [ValidationSplit.Mix]) throws {
        try AtomicFile.write(Data(TrainingRun.csv(mixes).utf8), to: validationMixesURL)
    }

    /// Whether `mixes` are the ones the run recorded (none recorded and none given match too).
    public func validatedOn(_ mixes: [ValidationSplit.Mix]) -> Bool {
        let recorded = try? String(contentsOf: validationMixesURL, encoding: .utf8)
        return recorded == (mixes.isEmpty ? nil : TrainingRun.csv(mixes))
    }

    /// Whether the run recorded held-out noise mixes.
    public var hasValidationMixes: Bool { FileManager.default.fileExists(atPath: validationMixesURL.path) }

    static func csv(_ mixes: [ValidationSplit.Mix]) -> String {
        var text = "file,noise,category,offset_samples,snr_db\n"
        for mix in mixes {
            // Whole dB as integers ("5", not "5.0").
            let snr = mix.snr == mix.snr.rounded() && abs(mix.snr) < 1e6 ? String(Int(mix.snr)) : "\(mix.snr)"
            text += "\(mix.utterance),\(mix.noise),\(NoiseClip.category(ofFileName: mix.noise)),\(mix.offset),\(snr)\n"
        }
        return text
    }

    public static func csv(_ history: [EpochReport]) -> String {
        var text = "epoch,train_loss,val_loss,val_sisdr_gain_db,lr,seconds,frames_per_second,val_speech_auc\n"
        for r in history {
            // The AUC column stays empty for a model without the speech head.
            let auc = r.validationSpeechAUC.map { String(format: "%.4f", $0) } ?? ""
            text += String(format: "%d,%.6f,%.6f,%.3f,%.6g,%.2f,%.0f,", r.epoch + 1, r.trainLoss, r.validationLoss,
                           r.validationSISDRGain, r.learningRate, r.seconds, r.framesPerSecond) + auc + "\n"
        }
        return text
    }
}
