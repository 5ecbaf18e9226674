import DenoiseKit
import Foundation

/// What `denoise train` does once its arguments are checked: load the pairs, build or resume the
/// model, train epoch by epoch with progress, and keep RUN_DIR resumable after every epoch.
struct TrainingSession {
    let settings: TrainSettings
    /// The model rate; data at other rates is resampled to it.
    let sampleRate = 16000

    private var say: (String) -> Void {
        settings.quiet ? { _ in } : { Terminal.writeError($0 + "\n") }
    }

    func run() throws -> Int32 {
        let started = Date()
        let run = TrainingRun(directory: settings.runDirectory, modelPrecision: settings.modelPrecision)
        // Checked before the data is read, which can take minutes.
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: settings.runDirectory.path, isDirectory: &isDirectory),
           !isDirectory.boolValue {
            throw CommandError("\(settings.runDirectory.path): exists and is not a folder; "
                               + "-o needs a folder for the run")
        }
        if settings.resume {
            guard FileManager.default.fileExists(atPath: run.checkpointURL.path) else {
                throw CommandError("\(run.checkpointURL.path): no checkpoint to resume from")
            }
        } else if FileManager.default.fileExists(atPath: run.checkpointURL.path) {
            throw CommandError("\(settings.runDirectory.path): already holds a training run; "
                               + "continue it with --resume or choose another -o")
        }

        // A bad teacher file is reported before the data is read too.
        let teacher = try settings.teacher.map(loadTeacher)
        let (train, validation, mixes, heldOutNoise) = try loadData()
        // A resumed run that validated on other pairs, or on the same pairs mixed with other held-out noise or at
        // other SNRs, would pick its best epoch on a different yardstick.
        if settings.resume {
            if let recorded = try run.validationList(), recorded != validation.names {
                throw CommandError("\(run.validationListURL.path): the run validated on other pairs; resume with the "
                                   + "--val-split and --val-seed (or --val-noisy/--val-clean) it started with")
            }
            if !run.validatedOn(mixes) {
                throw CommandError(run.hasValidationMixes
                    ? "\(run.validationMixesURL.path): the run validated on other noise mixes; resume with the "
                      + "--val-noise, --val-snrs and --val-seed it started with"
                    : "\(settings.runDirectory.path): the run validated without --val-noise; resume without it")
            }
        }
        say("training on \(train.count) pairs (\(Format.duration(samples: train.totalSamples, rate: sampleRate))), "
            + "validating on \(validation.count)")
        let augmentation = try makeAugmentation(train, heldOutNoise: heldOutNoise)

        let model: DenoiseModel
        var checkpoint: SafeTensors?
        // The runs behind the starting weights, kept in the model's summary so `info` can show them.
        var earlierRuns: [TrainingSummary]?
        if settings.resume {
            let file = try SafeTensors.read(url: run.checkpointURL)
            model = try DenoiseModel(safeTensors: file, path: run.checkpointURL.path)
            checkpoint = file
            earlierRuns = model.training?.earlierRuns
        } else if let initial = settings.initialModel {
            let loaded = try DenoiseModel.load(url: initial)
            guard loaded.sampleRate == sampleRate else {
                throw CommandError("\(initial.path): a \(loaded.sampleRate) Hz model; "
                                   + "training runs at \(sampleRate) Hz")
            }
            earlierRuns = loaded.training?.lineage
            say("starting from \(initial.path)")
            // A growth the model cannot take (wrong kind, or grown already) is refused, naming the file.
            func growing(_ grow: () throws -> DenoiseModel) throws -> DenoiseModel {
                do { return try grow() } catch { throw CommandError("\(initial.path): \(error)") }
            }
            var grown = loaded
            if !settings.addedBlocks.isEmpty {
                grown = try growing {
                    try loaded.addingBlocks(dilations: settings.addedBlocks, seed: UInt64(settings.seed))
                }
                say("adding \(settings.addedBlocks.count) residual block(s) of dilation "
                    + "\(settings.addedBlocks.map(String.init).joined(separator: ",")), starting close to the identity")
            }
            if let floorBands = settings.floorBands {
                grown = try growing { [grown] in
                    try grown.addingFloorInput(bands: floorBands, window: settings.floorWindow,
                                               seed: UInt64(settings.seed))
                }
                say("adding a noise-floor input of \(floorBands) bands"
                    + (settings.floorWindow.map { " (a \(Format.number(Float($0))) s window)" } ?? "")
                    + ", starting at zero weight")
            }
            if settings.vadWeight > 0 && !grown.hasSpeechHead {
                say("adding a speech-probability head (--vad-weight \(settings.vadWeight)), trained from scratch")
                model = try grown.addingSpeechHead(seed: UInt64(settings.seed))
            } else {
                model = grown
            }
        } else {
            model = try DenoiseModel(config: maskNetConfig(), sampleRate: sampleRate, seed: UInt64(settings.seed))
        }
        if let exponent = settings.maskExponent { model.maskExponent = Float(exponent) }
        let trainer = try Trainer(model: model, train: train, validation: validation, options: trainingOptions(),
                                  augmentation: augmentation, teacher: teacher)
        if let checkpoint {
            try trainer.restore(from: checkpoint, path: run.checkpointURL.path)
            say("resuming after epoch \(trainer.epoch)")
        }
        try Self.createFolder(settings.runDirectory)
        try run.saveConfig(model: model, options: trainer.options)
        try run.saveValidationList(validation)
        if !mixes.isEmpty { try run.saveValidationMixes(mixes) }
        if settings.saveValidation { try saveValidationPairs(validation) }
        say("model: \(model.net.config.kind.rawValue), \(model.net.config.norm.rawValue) norm, "
            + "\(model.net.config.inputNorm.rawValue) input norm, "
            + (model.net.config.inputBands.map { "\($0) input bands, " } ?? "")
            + (model.net.config.floorBands.map { "\($0) noise-floor bands, " } ?? "")
            + "\(model.net.parameterCount) parameters; \(settings.optimizer), lr \(settings.learningRate)")

        let interrupt = InterruptMonitor.shared
        interrupt.install(notice: "stopping after this batch; the checkpoint of the last full epoch is kept "
                          + "(press Ctrl-C again to quit at once)")
        defer { interrupt.uninstall() }

        while !trainer.isFinished {
            let epoch = trainer.epoch
            let progress = ProgressReporter(label: "epoch \(epoch + 1)/\(settings.epochs)", total: nil, unit: "frames",
                                            style: settings.quiet ? .silent : nil)
            let report = try trainer.runEpoch(progress: { done, total in
                progress.setTotal(total)
                progress.update(completed: done)
            }, shouldStop: { interrupt.isRequested })
            progress.finish()
            guard let report else {
                say("interrupted in epoch \(epoch + 1); continue with: "
                    + "denoise train ... -o \(settings.runDirectory.path) --resume")
                return ExitStatus.interrupted
            }
            let improved = trainer.bestEpoch == report.epoch
            let best = trainer.history.first { $0.epoch == trainer.bestEpoch } ?? report
            try run.save(trainer: trainer, improved: improved, summary: TrainingSummary(
                epochs: trainer.epoch, bestEpoch: best.epoch + 1, validationLoss: best.validationLoss,
                validationSISDRGain: best.validationSISDRGain, trainingPairs: train.count,
                trainingSeconds: trainer.history.reduce(0) { $0 + $1.seconds }, command: CLI.invocation,
                earlierRuns: earlierRuns))
            let auc = report.validationSpeechAUC.map { String(format: "  speech AUC %.3f", $0) } ?? ""
            say(String(format: "epoch %3d  train %.5f  val %.5f  SI-SDR gain %+.2f dB%@  "
                               + "lr %.3g  %.0f s  %.0f frames/s%@",
                       report.epoch + 1, report.trainLoss, report.validationLoss, report.validationSISDRGain, auc,
                       report.learningRate, report.seconds, report.framesPerSecond, improved ? "  *" : ""))
        }
        let best = trainer.history.first { $0.epoch == trainer.bestEpoch }
        if best != nil {
            try run.recordEnd(epochs: trainer.epoch, trainingSeconds: trainer.history.reduce(0) { $0 + $1.seconds })
        }
        if let best {
            say(String(format: "done in %@: best epoch %d (val loss %.5f, SI-SDR gain %+.2f dB) → %@",
                       Format.clock(seconds: Date().timeIntervalSince(started)), best.epoch + 1,
                       best.validationLoss, best.validationSISDRGain, run.modelURL.path))
        }
        return ExitStatus.success
    }

    /// mkdir -p with an error naming the folder and the system's reason. Foundation's createDirectory says
    /// only "The operation could not be completed (NSCocoaErrorDomain error 512)" on Linux.
    private static func createFolder(_ folder: URL) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory) {
            if isDirectory.boolValue { return }
            throw CommandError("\(folder.path): is a file, not a folder; cannot create the run folder in it")
        }
        let parent = folder.deletingLastPathComponent()
        if parent.path != folder.path { try createFolder(parent) }
        if mkdir(folder.path, 0o777) != 0 && errno != EEXIST {
            throw CommandError("\(folder.path): cannot create the run folder: \(String(cString: strerror(errno)))")
        }
    }

    /// The training pairs, the validation pairs, how held-out noise was mixed into the latter (if it was) and
    /// that noise. Training pairs are read from disk a batch at a time, or all at once with --preload; validation
    /// pairs mixed with held-out noise are made once and kept in memory (a validation set is small).
    private func loadData() throws -> (any PairSource, any PairSource, [ValidationSplit.Mix], [NoiseClip]) {
        let (train, validation) = try scanData()
        var mixed: (data: PairDataset, mixes: [ValidationSplit.Mix])?
        var clips: [NoiseClip] = []
        if !settings.validationNoise.isEmpty {
            for folder in settings.validationNoise {
                clips += try NoiseClip.load(from: folder, sampleRate: sampleRate)
            }
            let categories = Set(clips.map(\.category)).sorted()
            say("validation noise: \(clips.count) clips in \(categories.count) categories "
                + "(\(categories.joined(separator: ", ")))")
            mixed = try ValidationSplit.mixed(validation.loaded(), noise: clips, snrs: settings.validationSNRs,
                                              seed: settings.validationSeed)
        }
        guard settings.preload else { return (train, mixed?.data ?? validation, mixed?.mixes ?? [], clips) }
        say("reading \(train.count + validation.count) pairs into memory …")
        return (try train.loaded(), try mixed?.data ?? validation.loaded(), mixed?.mixes ?? [], clips)
    }

    private func scanData() throws -> (PairFiles, PairFiles) {
        let all: PairFiles
        if let manifest = settings.pairs {
            say("reading \(manifest.path) …")
            all = try PairFiles.scan(manifest: PairManifest.read(manifest), sampleRate: sampleRate)
        } else if let noisy = settings.noisy, let clean = settings.clean, !settings.remixOnly {
            say("reading \(noisy.path) …")
            all = try PairFiles.scan(noisy: noisy, clean: clean, sampleRate: sampleRate)
        } else if let clean = settings.clean {
            say("reading \(clean.path) …")
            all = try PairFiles.scan(noisy: clean, clean: clean, sampleRate: sampleRate)
        } else {
            throw CommandError("no training pairs given")
        }
        for warning in all.warnings { say("warning: \(warning)") }
        switch settings.validation {
        case let .split(fraction, seed):
            return try all.split(validationFraction: fraction, seed: seed)
        case .folders(let noisy, let clean):
            let validation = try PairFiles.scan(noisy: noisy, clean: clean, sampleRate: sampleRate)
            for warning in validation.warnings { say("warning (validation): \(warning)") }
            return (all, validation)
        case .speakers(let speakers):
            return try ValidationSplit.holdOut(speakers: speakers, from: all)
        }
    }

    /// The validation pairs as WAV files, so that they can be enhanced and scored by other tools.
    private func saveValidationPairs(_ validation: any PairSource) throws {
        let folder = settings.runDirectory.appendingPathComponent("validation")
        for (index, name) in validation.names.enumerated() {
            for (side, samples) in [("noisy", try validation.noisy(index)), ("clean", try validation.clean(index))] {
                let url = folder.appendingPathComponent(side).appendingPathComponent(name)
                try Self.createFolder(url.deletingLastPathComponent())
                let format = WAVFormat(sampleFormat: .float32, channelCount: 1, sampleRate: sampleRate)
                let writer = try WAVWriter(url: url, format: format)
                try writer.write(AudioBuffer(mono: samples, sampleRate: sampleRate))
                try writer.finish()
            }
        }
    }

    /// Noise material: clips from --noise folders and, unless training on remixes only, the noise
    /// left in each training pair (noisy − clean), which carries the corpus's own noise types. A --noise recording
    /// that is also --val-noise is refused: validating on noise training hears would flatter the figures.
    private func makeAugmentation(_ train: any PairSource, heldOutNoise: [NoiseClip]) throws -> Augmentation? {
        guard !settings.augment.isEmpty else {
            if settings.remixOnly {
                throw CommandError("--remix-only needs augmentation; --augment none leaves nothing to train on")
            }
            return nil
        }
        var clips: [NoiseClip] = []
        for folder in settings.noise { clips += try NoiseClip.load(from: folder, sampleRate: sampleRate) }
        let shared = NoiseClip.sameRecordings(clips, heldOutNoise)
        if let first = shared.first {
            throw CommandError("\(first.training.path): the same recording as the validation noise "
                               + "\(first.heldOut.path)" + (shared.count > 1 ? " (and \(shared.count - 1) more)" : "")
                               + "; validation noise must be noise training never hears: give --val-noise "
                               + "recordings that no --noise folder holds")
        }
        if !settings.noise.isEmpty {
            let categories = Set(clips.map { $0.source + "/" + $0.category }).count
            say("noise: \(clips.count) clips in \(categories) categories from "
                + settings.noise.map(\.path).joined(separator: ", "))
        }
        // A bounded share of the pairs, so that memory stays flat in the size of the corpus.
        let material = try train.augmentationMaterial(maxSamples: AugmentationMaterial.maxSeconds * sampleRate,
                                                      seed: UInt64(settings.seed), noise: !settings.remixOnly)
        if material.speech.count < train.count {
            say("augmentation: noise and babble from \(material.speech.count) of the pairs")
        }
        // The pairs' own noise is one more source, as likely to be drawn as each --noise folder (grouped draw).
        clips += material.noise.enumerated().map { index, samples in
            NoiseClip(name: "pair \(index + 1)", samples: samples, category: "pairs", source: "training pairs")
        }
        var responses: [RoomImpulseResponse] = []
        for folder in settings.responseFolders {
            responses += try RoomImpulseResponse.load(from: folder, sampleRate: sampleRate)
        }
        if !responses.isEmpty { say("rooms: \(responses.count) measured impulse responses, and synthetic ones") }
        let snr = Float(settings.snrRange.lowerBound)...Float(settings.snrRange.upperBound)
        return Augmentation(kinds: settings.augment, snrRange: snr, noiseClips: [], recordedNoise: clips,
                            noiseDraw: settings.noiseDraw, speech: material.speech, sampleRate: sampleRate,
                            conditions: settings.conditions, responses: responses)
    }

    /// The --teacher model, checked against the run's rate (the trainer checks its frames).
    private func loadTeacher(_ url: URL) throws -> DenoiseModel {
        let teacher = try DenoiseModel.load(url: url)
        guard teacher.sampleRate == sampleRate else {
            throw CommandError("\(url.path): a \(teacher.sampleRate) Hz teacher; training runs at \(sampleRate) Hz")
        }
        let reach = teacher.net.config.causal ? "causal" : "look-ahead \(teacher.net.config.lookAheadFrames) frames"
        say("teacher: \(url.path) (\(reach)), weight \(Format.number(Float(settings.teacherWeight)))")
        return teacher
    }

    private func maskNetConfig() -> MaskNetConfig {
        MaskNetConfig(kind: settings.arch, context: settings.context,
                      hidden: settings.width, kernelSize: settings.kernelSize, dilations: settings.dilations,
                      residual: settings.residual, causal: settings.causal,
                      norm: settings.norm,
                      inputNorm: settings.inputNorm,
                      dropout: Float(settings.dropout),
                      speechHead: settings.vadWeight > 0, inputBands: settings.inputBands,
                      floorBands: settings.floorBands, floorWindow: settings.floorWindow)
    }

    private func trainingOptions() -> TrainingOptions {
        var options = TrainingOptions()
        options.epochs = settings.epochs
        options.batchSize = settings.batchSize
        options.optimizer = settings.optimizer
        options.learningRate = Float(settings.learningRate)
        options.weightDecay = Float(settings.weightDecay)
        options.l1 = Float(settings.l1)
        options.schedule = settings.schedule
        options.clipGradient = settings.clipGradNorm.map(Float.init)
        options.earlyStopPatience = settings.earlyStopPatience
        options.seed = UInt64(settings.seed)
        options.cropSeconds = settings.cropSeconds
        options.phaseWeight = Float(settings.phaseWeight)
        options.stoiWeight = Float(settings.stoiWeight)
        options.sisdrWeight = Float(settings.sisdrWeight)
        options.vadWeight = Float(settings.vadWeight)
        options.speechHeadOnly = settings.speechHeadOnly
        options.teacherWeight = settings.teacher == nil ? 0 : Float(settings.teacherWeight)
        options.averageDecay = settings.averageDecay.map(Float.init)
        options.remixProbability = settings.remixOnly ? 1 : 0.5
        return options
    }
}
