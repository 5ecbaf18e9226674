import DenoiseKit
import Foundation

/// `denoise train`: learn a mask network from noisy/clean pairs (and noise clips mixed on the fly).
struct TrainCommand: Command {
    let name = "train"
    let abstract = "Train a mask network on pairs of noisy and clean recordings."
    let usage = [
        "train --noisy DIR --clean DIR -o RUN_DIR [<options>]",
        "train --clean DIR --noise DIR --remix-only -o RUN_DIR [<options>]",
        "train --pairs FILE.csv -o RUN_DIR [<options>]",
    ]
    let options: [Option] = [
        // Data.
        .option("noisy", value: "DIR", kind: .path,
                help: "Noisy recordings, paired with --clean by file name (not needed with --remix-only)."),
        .option("clean", value: "DIR", kind: .path, help: "Clean recordings."),
        .option("pairs", value: "FILE.csv", kind: .path,
                help: "The pairs as a manifest instead of --noisy/--clean: a CSV file with a header line and 'noisy' "
                    + "and 'clean' columns, paths absolute or relative to the file's folder."),
        .flag("preload", help: "Read every pair into memory before training (the corpus must fit in memory); by "
                  + "default each batch's pairs are read from disk as the batch is prepared."),
        .option("output-dir", short: "o", value: "RUN_DIR", kind: .path,
                help: "Where model.safetensors, checkpoint.safetensors, metrics.csv and loss.svg are written.",
                required: true),
        .option("val-split", value: "F", kind: .float,
                help: "Fraction of the pairs held out for validation.", default: "0.1"),
        .option("val-seed", value: "N", kind: .int,
                help: "Seed that draws the --val-split pairs. Apart from --seed, so runs with other seeds, "
                    + "fine-tunes and resumed runs validate on the same pairs (listed in RUN_DIR/validation.txt).",
                default: "1"),
        .option("val-noisy", value: "DIR", kind: .path, help: "Validation noisy recordings (instead of --val-split)."),
        .option("val-clean", value: "DIR", kind: .path, help: "Validation clean recordings, with --val-noisy."),
        .option("val-speakers", value: "LIST", kind: .list,
                help: "Hold out every pair of these speakers for validation (instead of --val-split): a speaker "
                    + "is the start of a file name up to an underscore, e.g. libri_5703 for libri_5703_001.wav."),
        .option("val-noise", value: "DIR", kind: .list,
                help: "Leave-noise-out validation: mix the clean side of the validation pairs with these noise "
                    + "clips instead of using their noisy side, each category (file name up to _NN) taking its "
                    + "turn, at --val-snrs, drawn by --val-seed. Give noise that training never uses (a recording "
                    + "also in a --noise folder is refused); may be repeated."),
        .option("val-snrs", value: "LIST", kind: .list, help: "SNRs in dB that --val-noise is mixed at, in turn.",
                default: ValidationSplit.defaultSNRs.map(Format.number).joined(separator: ",")),
        .flag("save-validation", help: "Also write the validation pairs as they are scored to "
                + "RUN_DIR/validation/noisy and RUN_DIR/validation/clean (to enhance and score them elsewhere)."),
        .option("noise", value: "DIR", kind: .list,
                help: "Noise clips mixed with the clean speech on the fly; may be repeated."),
        .option("noise-draw", value: "HOW", kind: .choice(NoisePool.Draw.allCases.map(\.rawValue)),
                help: "How recorded noise is drawn for remixing: grouped (a source, each --noise folder or the "
                    + "training pairs' own noise, then a category, then a clip, so that a folder of many clips does "
                    + "not crowd out one with few) or clips (any clip uniformly, as builds before the grouped draw "
                    + "did: the pairs' own noise, a clip per pair, then makes most of it).", default: "grouped"),
        .option("snr-range", value: "LO,HI", kind: .list,
                help: "SNRs in dB drawn uniformly for on-the-fly mixing.", default: "-5,20"),
        .flag("remix-only", help: "Train only on clean speech mixed with --noise clips, ignoring --noisy."),
        .option("augment", value: "LIST", help: "On-the-fly augmentation kinds, comma-separated: recorded (noise "
                + "clips and the noise of the training pairs), babble, colored, hum, band, modulated (noise "
                + "swelling and fading over seconds), transient (impacts), gain, lowpass; or all, none.",
                default: "all"),
        .option("rir", value: "DIR", kind: .list,
                help: "Measured room impulse responses for --reverb (those at 16 kHz when the folder has them, "
                    + "else all, resampled); may be repeated. Without it, rooms are synthetic only."),
    ] + TrainCommand.shares.map { share in
        .option(share.name, value: "P", kind: .float, help: share.help,
                default: Format.number(TrainCommand.defaults[keyPath: share.field]))
    } + [
        .option("noise-sources", value: "N", kind: .int,
                help: "With --second-noise: each such example sums 2–N noises (drawn uniformly), each further one "
                    + "\(range(defaults.secondNoiseRangeDB)) dB below the first: the dense beds of streets, "
                    + "factories and stations.",
                default: String(defaults.noiseSources.upperBound)),
        .option("crop", value: "SECONDS", kind: .float,
                help: "Train on random segments of this length.",
                default: Format.number(Float(Self.training.cropSeconds))),
        // Model.
        .option("arch", value: "mlp|cnn", kind: .choice(["mlp", "cnn"]),
                help: "mlp: per frame with context frames; cnn: dilated 1-D convolutions over time.",
                default: "cnn"),
        .option("context", value: "K", kind: .int,
                help: "With --arch mlp: frames of context on each side (default: "
                    + "\(MaskNetConfig.recommended(kind: .mlp).context))."),
        .option("width", value: "N", kind: .int,
                help: "Hidden width: MLP units or CNN channels (default: "
                    + "\(MaskNetConfig.recommended(kind: .mlp).hidden) for mlp, "
                    + "\(MaskNetConfig.recommended(kind: .cnn).hidden) for cnn)."),
        .option("dilations", value: "LIST", kind: .list,
                help: "With --arch cnn: one dilated convolution block per entry (default: "
                    + "\(MaskNetConfig.recommended(kind: .cnn).dilations.map(String.init).joined(separator: ",")))."),
        .option("kernel", value: "K", kind: .int,
                help: "With --arch cnn: odd kernel size of the dilated convolutions (default: "
                    + "\(MaskNetConfig.recommended(kind: .cnn).kernelSize))."),
        .flag("residual", help: "With --arch cnn: blocks after the first add their input to their output (skip "
                  + "connections, for deeper stacks)."),
        .flag("causal", help: "With --arch cnn: convolutions see only the current and earlier frames, so the model "
                  + "has no look-ahead and runs live (latency: one 32 ms frame). Needs --norm layer: group and "
                  + "instance norms average over the whole utterance and batch norm over the batch, later frames "
                  + "included, so they are not causal and are refused."),
        .option("norm", value: "KIND", kind: .choice(["layer", "group", "batch", "instance"]),
                help: "Hidden-layer normalisation: layer (per frame, streams), group or instance (per utterance: apply "
                    + "then holds the whole file), batch.", default: "layer"),
        .option("input-norm", value: "KIND", kind: .choice(InputNormKind.allCases.map(\.rawValue)),
                help: "Normalisation of the log-power input: batch (each bin by the training data's statistics), "
                    + "layer (each frame by its own) or running (each bin by the mean and variance of the "
                    + "utterance from its first frame on, weighted exponentially with a "
                    + "\(Self.runningTimeConstant) s time constant, then a learned "
                    + "per-bin scale and shift; causal, so it streams and suits --causal). Layer and running carry "
                    + "no corpus statistics into use.",
                default: MaskNetConfig.recommended(kind: .cnn).inputNorm.rawValue),
        .option("input-bands", value: "N", kind: .int,
                help: "Feed the network N log band powers per frame instead of one log power per bin: triangular "
                    + "bands equally spaced on the ERB-rate scale up to the Nyquist frequency (narrow at low "
                    + "frequencies, wide at high ones); the input norm then works per band. N in "
                    + "\(MaskNetConfig.fewestInputBands)...\(MaskNetConfig.recommended(kind: .cnn).bins), "
                    + "or 0 for one input per bin; the mask is still one gain per bin.",
                default: String(MaskNetConfig.recommended(kind: .cnn).inputBands ?? 0)),
        .option("floor-bands", value: "N", kind: .int,
                help: "Also feed the network, per ERB band, how far each frame's log power stands above the band's "
                    + "noise floor: the minimum of the smoothed band power over the last --floor-window seconds, "
                    + "causal, so it streams. N in "
                    + "\(MaskNetConfig.fewestInputBands)...\(MaskNetConfig.recommended(kind: .cnn).bins), or 0 for "
                    + "none. With --init from a CNN without it, the input is added with zero weights, so training "
                    + "starts from the model's own output.", default: "0"),
        .option("floor-window", value: "S", kind: .float,
                help: "With --floor-bands: how far back the noise floor looks, in seconds: longer than the pauses "
                    + "between words, so that it finds the noise in them. S in "
                    + "\(Format.number(Float(MaskNetConfig.floorWindows.lowerBound)))..."
                    + "\(Format.number(Float(MaskNetConfig.floorWindows.upperBound))).",
                default: Format.number(Float(MaskNetConfig.defaultFloorWindow))),
        .option("dropout", value: "P", kind: .float, help: "Dropout probability.",
                default: Format.number(MaskNetConfig.recommended(kind: .cnn).dropout)),
        // Loss.
        .option("phase-weight", value: "A", kind: .float,
                help: "Share of the phase-aware (complex) distance in the compressed spectral loss; 0 compares "
                    + "magnitudes only.", default: Format.number(Self.training.phaseWeight)),
        .option("stoi-weight", value: "B", kind: .float,
                help: "Weight of an intelligibility term added to the spectral loss: 1 minus the mean correlation "
                    + "of clean and enhanced one-third-octave band envelopes over 384 ms (STOI's measure, without "
                    + "its clipping); 0 for none.", default: Format.number(Self.training.stoiWeight)),
        .option("sisdr-weight", value: "C", kind: .float,
                help: "Weight of a waveform term added to the loss: minus the mean SI-SDR, in dB, of the "
                    + "utterances the mask makes (through the inverse STFT, as apply writes them); 0 for none. "
                    + "Its scale is dB: at 0.01 a 1 dB gain lowers the loss by 0.01.",
                default: Format.number(Self.training.sisdrWeight)),
        .option("vad-weight", value: "W", kind: .float,
                help: "Weight of the speech-probability head's binary cross-entropy added to the loss; 0 builds no "
                    + "head. The head (one sigmoid unit per frame on the last hidden layer, trained jointly with the "
                    + "mask) learns the clean signal's frame activity: a frame is speech when its level is within "
                    + "40 dB of the clean recording's 99th-percentile frame level and above -60 dBFS. With --init "
                    + "from a model without the head, the head is added and trained from scratch.",
                default: Format.number(Self.training.vadWeight)),
        .option("teacher", value: "MODEL", kind: .path,
                help: "Also pull the mask towards this trained model's mask for the same input (distillation): "
                    + "for example the default, non-causal model teaching a --causal one, which cannot see the later "
                    + "frames the teacher uses. The term is the mean squared difference of the two masks, in "
                    + "training steps only (validation losses stay comparable with runs without a teacher)."),
        .option("teacher-weight", value: "W", kind: .float, help: "Weight of the --teacher term.", default: "1"),
        .flag("speech-head-only", help: "With --init: train the speech-probability head alone, on the last hidden "
                + "layer as the model computes it in apply; every other weight, so the audio, stays as it is, and "
                + "the loss is the head's cross-entropy. Gives a model trained without the head a speech "
                + "probability without changing its audio."),
        .option("mask-exponent", value: "G", kind: .float,
                help: "The mask exponent apply uses with the saved model unless told otherwise (see apply "
                    + "--mask-exponent); training itself is unaffected (default: the --init model's, else 1)."),
        // Optimisation.
        .option("epochs", value: "N", kind: .int, help: "Passes over the training data.",
                default: String(Self.training.epochs)),
        .option("batch-size", value: "N", kind: .int, help: "Utterances per batch.",
                default: String(Self.training.batchSize)),
        .option("lr", value: "X", kind: .float, help: "Learning rate.",
                default: Format.number(Self.training.learningRate)),
        .option("optimizer", value: "NAME", kind: .choice(["adamw", "adam", "sgd", "rmsprop", "adagrad"]),
                help: "adamw, adam, sgd (momentum 0.9), rmsprop or adagrad.", default: Self.training.optimizer),
        .option("weight-decay", value: "X", kind: .float,
                help: "Weight decay on weights (not biases or norms): decoupled for adamw, L2 otherwise.",
                default: Format.number(Self.training.weightDecay)),
        .option("l1", value: "X", kind: .float, help: "L1 penalty on weights: adds X sign(w) to the gradient.",
                default: Format.number(Self.training.l1)),
        .option("clip-grad", value: "NORM", kind: .float,
                help: "Scale the gradient down when its global L2 norm exceeds NORM (default: off)."),
        .option("schedule", value: "SPEC", help: "Learning-rate schedule, stepped per epoch: none, step:STEP:GAMMA, "
                + "multistep:M1,M2,...:GAMMA, exp:GAMMA or cosine[:WARMUP_EPOCHS] (to zero at the last epoch; "
                + "no warm-up in runs of 3 epochs or fewer).", default: TrainingOptions.defaultSchedule),
        .option("average", value: "DECAY", kind: .float,
                help: "Validate and save a moving average of the weights, updated after every step with this decay "
                    + "(e.g. 0.999; default: off)."),
        .option("early-stop", value: "PATIENCE", kind: .int,
                help: "Stop after PATIENCE epochs without a better validation loss (default: off)."),
        .flag("resume", help: "Continue from RUN_DIR/checkpoint.safetensors, with its architecture and the "
                + "training options given now."),
        .option("init", value: "MODEL", help: "Start from this model's weights (fine-tuning, e.g. the default model "
                + "on your own recordings); its architecture replaces --arch, --context, --width, --dilations, "
                + "--kernel, --residual, --norm, --input-norm, --input-bands and --dropout."),
        .option("add-blocks", value: "LIST", kind: .list,
                help: "With --init from a CNN with skip connections: append one residual block per dilation in LIST "
                    + "(e.g. 1), each starting close to the identity (its norm's gain 0.01), so training starts "
                    + "from about the model's own output with more capacity. A centred block adds its dilation "
                    + "times (kernel - 1) / 2 frames to the look-ahead; a causal one adds none."),
        .option("seed", value: "N", kind: .int, help: "Seed for initialisation, shuffling and mixing.",
                default: String(Self.training.seed)),
        .flag("float16", help: "Store model.safetensors's weights as 16-bit floats: " + ParsedArguments.float16Effect
                + " The checkpoint keeps 32-bit floats, so --resume continues from the weights as they were."),
        .flag("quiet", help: "Print no progress, only errors."),
    ]

    func run(_ arguments: ParsedArguments) throws -> Int32 {
        try TrainingSession(settings: TrainSettings(arguments)).run()
    }

    /// The library's training defaults, which help shows and parsing falls back to.
    private static let training = TrainingOptions()
    /// The running input norm's time constant as the help states it ("1").
    private static let runningTimeConstant: String = Format.number(Float(InputNormKind.runningTimeConstantSeconds))

    /// The library's augmentation defaults, which help shows.
    private static let defaults = AugmentationOptions()

    /// The augmentation shares, in help order: each option's name, the field of `AugmentationOptions` it sets (its
    /// default is the library's), and its help. Declaring and parsing both read this list.
    /// (Computed: key paths are not `Sendable`, so the list cannot be a stored static.)
    static var shares: [(name: String, field: WritableKeyPath<AugmentationOptions, Float>, help: String)] { [
        ("reverb", \.reverbShare,
         "Share of remixed examples in a room: the input hears the whole impulse response (measured or synthetic, "
            + "RT60 \(range(defaults.rt60Range)) s), the target only its direct path and first 50 ms, which a mask "
            + "cannot separate from the speech and listeners hear as part of it."),
        ("narrowband", \.narrowbandShare,
         "Share of remixed examples whose whole mixture passes through 8 kHz sampling, as telephone and VoIP audio "
            + "does (the target is band-limited too)."),
        ("mulaw", \.muLawShare, "Share of the narrowband examples also coded with G.711 mu-law."),
        ("low-snr", \.lowSNRShare,
         "Share of remixed examples mixed at \(range(defaults.lowSNRRange)) dB instead of --snr-range, where "
            + "denoising is hardest."),
        ("speed", \.speedShare,
         "Share of remixed examples whose speech is played \(range(defaults.speedRange))x as fast, input and target "
            + "(pitch and formants move with it, as between talkers)."),
        ("second-noise", \.secondNoiseShare,
         "Share of remixed examples whose noise is two at once: a second noise, drawn as the first is, "
            + "\(range(defaults.secondNoiseRangeDB)) dB below it (real backgrounds are rarely one source)."),
        ("noise-eq", \.noiseEQShare,
         "Share of remixed examples whose noise is coloured by \(defaults.noiseEQFilters.lowerBound)–"
            + "\(defaults.noiseEQFilters.upperBound) random peaking filters of up to "
            + "±\(Format.number(defaults.noiseEQRangeDB.upperBound)) dB (the same source through other walls, "
            + "cars and microphones)."),
        ("level", \.levelShare,
         "Share of remixed examples made louder or quieter as a whole, by up to "
            + "\(Format.number(defaults.levelRangeDB)) dB."),
        ("clipping", \.clippingShare,
         "Share of remixed examples whose input (not target) is clipped at \(range(defaults.clippingLevelRange)) of "
            + "its peak."),
        ("lead-silence", \.leadingSilenceShare,
         "Share of remixed examples that start with \(range(defaults.leadingSilenceRange)) s of digital silence "
            + "(input and target), as streams and muted microphones begin. apply no longer shows the network an "
            + "input's leading silence (it starts the network at the first sound), so this serves recipes that used "
            + "it and silence after sound."),
        ("pause-silence", \.pauseSilenceShare,
         "Share of remixed examples with \(range(defaults.pauseSilenceRange)) s of digital silence (input and "
            + "target) starting anywhere in them: a microphone muted mid-call, a noise gate's pause, the end of a "
            + "stream (a pause that runs off the end)."),
    ] }

    private static func range<T: BinaryFloatingPoint>(_ range: ClosedRange<T>) -> String {
        Format.number(Float(range.lowerBound)) + "–" + Format.number(Float(range.upperBound))
    }
}

/// The checked settings of `train`.
struct TrainSettings {
    enum Validation {
        case split(fraction: Double, seed: UInt64)
        case folders(noisy: URL, clean: URL)
        case speakers([String])
    }

    var noisy: URL?
    /// nil with `pairs`.
    var clean: URL?
    /// A CSV manifest of the pairs, instead of the folders.
    var pairs: URL?
    /// Hold every pair in memory rather than reading each batch's from disk.
    var preload: Bool
    var runDirectory: URL
    /// How model.safetensors stores its weights (the checkpoint is always float32).
    var modelPrecision: SafeTensors.Precision
    var validation: Validation
    /// Held-out noise the validation pairs are remixed with (empty: their own noisy side).
    var validationNoise: [URL]
    var validationSNRs: [Float]
    /// Draws the --val-split pairs and the --val-noise mixing.
    var validationSeed: UInt64
    var saveValidation: Bool
    var noise: [URL]
    var noiseDraw: NoisePool.Draw
    /// SNR range in dB for on-the-fly mixing (equal bounds for a fixed SNR).
    var snrRange: ClosedRange<Double>
    var remixOnly: Bool
    var augment: Set<Augmentation.Kind>
    var conditions: AugmentationOptions
    var responseFolders: [URL]
    var cropSeconds: Double
    var arch: MaskNetKind
    var context: Int
    /// nil: the kind's default width.
    var width: Int?
    var dilations: [Int]
    var kernelSize: Int
    var residual: Bool
    var causal: Bool
    var norm: NormKind
    var inputNorm: InputNormKind
    /// nil: one input per bin.
    var inputBands: Int?
    /// nil: no noise-floor input (with --init: the model's own).
    var floorBands: Int?
    /// nil: the default window, which the model file leaves out.
    var floorWindow: Double?
    var dropout: Double
    var phaseWeight: Double
    var stoiWeight: Double
    var sisdrWeight: Double
    /// 0: no speech-probability head.
    var vadWeight: Double
    var speechHeadOnly: Bool
    /// The model whose masks training also pulls towards, with `teacherWeight` (nil: none).
    var teacher: URL?
    var teacherWeight: Double
    /// nil: the starting model's (1 for a new one).
    var maskExponent: Double?
    var averageDecay: Double?
    var epochs: Int
    var batchSize: Int
    var learningRate: Double
    var optimizer: String
    var weightDecay: Double
    var l1: Double
    var clipGradNorm: Double?
    var schedule: String
    var earlyStopPatience: Int?
    var resume: Bool
    /// A model whose weights (and architecture) the run starts from.
    var initialModel: URL?
    /// Dilations of the residual blocks appended to `initialModel` (empty: none).
    var addedBlocks: [Int]
    var seed: Int
    var quiet: Bool

    init(_ arguments: ParsedArguments) throws {
        // Required options are enforced by the parser.
        guard let runDirectory = arguments.path("output-dir") else {
            throw UsageError("missing required option --output-dir")
        }
        self.runDirectory = runDirectory
        modelPrecision = arguments.modelPrecision
        clean = arguments.path("clean")
        noisy = arguments.path("noisy")
        pairs = arguments.path("pairs")
        preload = arguments.flag("preload")
        noise = arguments.list("noise").map(fileURL)
        remixOnly = arguments.flag("remix-only")
        if pairs != nil {
            if let folders = ["noisy", "clean"].first(where: arguments.has) {
                throw UsageError("--pairs lists the pairs: give either --pairs or --noisy/--clean, not --\(folders)")
            }
            if remixOnly { throw UsageError("--remix-only trains on --clean DIR, not on --pairs") }
        } else if clean == nil {
            throw UsageError("missing the training pairs: give --noisy DIR --clean DIR, or --pairs FILE.csv")
        } else if remixOnly {
            if noise.isEmpty { throw UsageError("--remix-only needs noise clips: give --noise DIR") }
            if noisy != nil { throw UsageError("--remix-only ignores --noisy: give one or the other") }
        } else if noisy == nil {
            throw UsageError("missing required option --noisy <DIR> (or train on remixed speech with --remix-only)")
        }

        validationNoise = arguments.list("val-noise").map(fileURL)
        let validationSNRList = arguments.list("val-snrs")
        let parsedSNRs = validationSNRList.compactMap(parseDouble)
        guard !parsedSNRs.isEmpty, parsedSNRs.count == validationSNRList.count, parsedSNRs.allSatisfy(\.isFinite) else {
            throw arguments.invalidValue("val-snrs", expected: "comma-separated SNRs in dB")
        }
        if arguments.has("val-snrs") && validationNoise.isEmpty {
            throw UsageError("--val-snrs applies only with --val-noise")
        }
        validationSNRs = parsedSNRs.map(Float.init)
        validationSeed = UInt64(try arguments.defaultedInt("val-seed", expected: "an integer >= 0") { $0 >= 0 })
        saveValidation = arguments.flag("save-validation")
        let speakers = arguments.list("val-speakers").filter { !$0.isEmpty }
        if arguments.has("val-speakers") && speakers.isEmpty {
            throw arguments.invalidValue("val-speakers", expected: "comma-separated speaker names")
        }
        switch (arguments.path("val-noisy"), arguments.path("val-clean")) {
        case let (noisy?, clean?):
            for option in ["val-split", "val-speakers"] where arguments.has(option) {
                throw UsageError("give either --\(option) or --val-noisy/--val-clean")
            }
            // The seed draws nothing from given folders, only the mixing of --val-noise.
            if arguments.has("val-seed") && validationNoise.isEmpty {
                throw UsageError("give either --val-seed or --val-noisy/--val-clean (without --val-noise)")
            }
            validation = .folders(noisy: noisy, clean: clean)
        case (nil, nil):
            if !speakers.isEmpty {
                if arguments.has("val-split") { throw UsageError("give either --val-split or --val-speakers") }
                // Held-out speakers are named, not drawn: the seed would only draw the --val-noise mixing.
                if arguments.has("val-seed") && validationNoise.isEmpty {
                    throw UsageError("--val-seed draws nothing with --val-speakers unless --val-noise is given")
                }
                validation = .speakers(speakers)
            } else {
                let fraction = try arguments.defaultedDouble("val-split",
                                                             expected: "a fraction between 0 and 1 (exclusive)") {
                    $0 > 0 && $0 < 1
                }
                validation = .split(fraction: fraction, seed: validationSeed)
            }
        case (_?, nil):
            throw UsageError("--val-noisy needs --val-clean")
        case (nil, _?):
            throw UsageError("--val-clean needs --val-noisy")
        }

        let snr = arguments.list("snr-range").map(parseDouble)
        guard (1...2).contains(snr.count), let low = snr.first ?? nil, let high = snr.last ?? nil, low <= high else {
            throw arguments.invalidValue("snr-range", expected: "LO,HI in dB with LO <= HI, or one SNR")
        }
        snrRange = low...high
        noiseDraw = arguments.defaultedChoice("noise-draw")
        do { augment = try Augmentation.parseKinds(arguments.defaultedString("augment")) } catch {
            throw UsageError("invalid value for --augment: \(error)")
        }
        conditions = AugmentationOptions()
        for (name, field, _) in TrainCommand.shares {
            conditions[keyPath: field] = Float(try arguments.defaultedDouble(name, expected: "a share in [0, 1]") {
                (0...1).contains($0)
            })
        }
        conditions.noiseSources = 2...(try arguments.defaultedInt("noise-sources", expected: "a count in 2...8") {
            (2...8).contains($0)
        })
        responseFolders = arguments.list("rir").map(fileURL)
        cropSeconds = try arguments.defaultedDouble("crop", expected: "a length in seconds > 0") { $0 > 0 }

        arch = arguments.defaultedChoice("arch")
        if arguments.has("context") && arch != .mlp { throw UsageError("--context applies only to --arch mlp") }
        context = try arguments.int("context", expected: "a number of frames >= 0") { $0 >= 0 } ?? 2
        width = try arguments.int("width", expected: "a width in 1...4096") { (1...4096).contains($0) }
        if arch != .cnn, let cnnOnly = ["dilations", "kernel", "residual", "causal"].first(where: arguments.has) {
            throw UsageError("--\(cnnOnly) applies only to --arch cnn")
        }
        let givenDilations = try Self.dilations("dilations", in: arguments)
        dilations = givenDilations.isEmpty ? [1, 2, 4] : givenDilations
        let causal = arguments.flag("causal")
        self.causal = causal
        kernelSize = try arguments.int("kernel", expected: causal ? "a size in 1...31" : "an odd size in 1...31") {
            ($0 % 2 == 1 || causal) && (1...31).contains($0)
        } ?? 5
        residual = arguments.flag("residual")
        norm = arguments.defaultedChoice("norm")
        if causal && norm != .layer {
            throw UsageError("--causal needs --norm layer: \(norm.rawValue) norm averages over "
                             + (norm == .batch ? "the batch's frames" : "the whole utterance")
                             + ", later frames included, so it is not causal")
        }
        inputNorm = arguments.defaultedChoice("input-norm")
        let bins = MaskNetConfig.recommended(kind: .cnn).bins
        let bandCounts = MaskNetConfig.fewestInputBands...bins
        let bands = try arguments.int("input-bands", expected: "0 (per bin) or a band count in \(bandCounts)") {
            $0 == 0 || bandCounts.contains($0)
        }
        inputBands = bands == 0 ? nil : bands
        let floor = try arguments.int("floor-bands", expected: "0 (none) or a band count in \(bandCounts)") {
            $0 == 0 || bandCounts.contains($0)
        }
        floorBands = floor == 0 ? nil : floor
        let windows = MaskNetConfig.floorWindows
        let window = try arguments.defaultedDouble("floor-window", expected: "seconds in \(windows)") {
            windows.contains($0)
        }
        if arguments.has("floor-window") && floorBands == nil {
            throw UsageError("--floor-window sets the window of the noise-floor input: give it with --floor-bands")
        }
        // The default window is left out of the model file, which older builds then still read.
        floorWindow = window == MaskNetConfig.defaultFloorWindow ? nil : window
        dropout = try arguments.defaultedDouble("dropout", expected: "a probability in [0, 1)") { $0 >= 0 && $0 < 1 }
        phaseWeight = try arguments.defaultedDouble("phase-weight", expected: "a weight in [0, 1]") {
            $0 >= 0 && $0 <= 1
        }
        stoiWeight = try arguments.defaultedDouble("stoi-weight", expected: "a weight >= 0") { $0 >= 0 }
        sisdrWeight = try arguments.defaultedDouble("sisdr-weight", expected: "a weight >= 0") { $0 >= 0 }
        vadWeight = try arguments.defaultedDouble("vad-weight", expected: "a weight >= 0") { $0 >= 0 }
        speechHeadOnly = arguments.flag("speech-head-only")
        if speechHeadOnly && vadWeight == 0 {
            throw UsageError("--speech-head-only trains the speech head: it needs --vad-weight above 0")
        }
        teacher = arguments.path("teacher")
        teacherWeight = try arguments.defaultedDouble("teacher-weight", expected: "a weight > 0") { $0 > 0 }
        if arguments.has("teacher-weight") && teacher == nil {
            throw UsageError("--teacher-weight weighs the --teacher term: give the teacher model with --teacher")
        }
        if teacher != nil && speechHeadOnly {
            throw UsageError("--teacher and --speech-head-only: the head-only run keeps the mask as it is")
        }
        maskExponent = try arguments.maskExponent()

        epochs = try arguments.defaultedInt("epochs", expected: "at least 1") { $0 >= 1 }
        batchSize = try arguments.defaultedInt("batch-size", expected: "at least 1") { $0 >= 1 }
        learningRate = try arguments.defaultedDouble("lr", expected: "a number > 0") { $0 > 0 }
        optimizer = arguments.defaultedString("optimizer")
        weightDecay = try arguments.defaultedDouble("weight-decay", expected: "a number >= 0") { $0 >= 0 }
        l1 = try arguments.defaultedDouble("l1", expected: "a number >= 0") { $0 >= 0 }
        clipGradNorm = try arguments.double("clip-grad", expected: "a norm > 0") { $0 > 0 }
        schedule = arguments.defaultedString("schedule")
        var planned = TrainingOptions()
        planned.schedule = schedule
        planned.epochs = epochs
        do { _ = try Schedules.parse(planned.effectiveSchedule, totalEpochs: epochs) } catch {
            throw UsageError("invalid value for --schedule: \(error)")
        }
        averageDecay = try arguments.double("average", expected: "a decay in [0, 1)") { $0 >= 0 && $0 < 1 }
        earlyStopPatience = try arguments.int("early-stop", expected: "a number of epochs >= 1") { $0 >= 1 }
        resume = arguments.flag("resume")
        initialModel = arguments.path("init")
        if initialModel != nil && resume {
            throw UsageError("--init starts a new run and --resume continues one: give one or the other")
        }
        // A model file or a checkpoint fixes the architecture; options that would change it are refused, not ignored.
        let architecture = ["arch", "context", "width", "dilations", "kernel", "residual", "causal", "norm",
                            "input-norm", "input-bands", "dropout"]
        if let first = architecture.first(where: arguments.has), initialModel != nil || resume {
            let source = resume ? "--resume: the architecture comes from the checkpoint"
                : "--init: the architecture comes from the model"
            throw UsageError("--\(first) does not apply with \(source)")
        }
        if floorBands != nil && resume {
            throw UsageError("--floor-bands does not apply with --resume: the architecture comes from the checkpoint")
        }
        if floorBands != nil && speechHeadOnly {
            throw UsageError("--floor-bands and --speech-head-only: a new input needs training, the head-only run "
                             + "keeps the network as it is")
        }
        addedBlocks = try Self.dilations("add-blocks", in: arguments)
        if !addedBlocks.isEmpty && initialModel == nil {
            throw UsageError("--add-blocks grows a trained network: give the model with --init")
        }
        if !addedBlocks.isEmpty && speechHeadOnly {
            throw UsageError("--add-blocks and --speech-head-only: new blocks need training, the head-only run "
                             + "keeps the network as it is")
        }
        if speechHeadOnly && initialModel == nil && !resume {
            throw UsageError("--speech-head-only trains the head on a trained network: give the model with --init")
        }
        seed = try arguments.defaultedInt("seed", expected: "an integer >= 0") { $0 >= 0 }
        quiet = arguments.flag("quiet")
    }

    /// A list of CNN dilations (`--dilations`, `--add-blocks`): empty when the option is absent.
    private static func dilations(_ name: String, in arguments: ParsedArguments) throws -> [Int] {
        let list = arguments.list(name)
        let parsed = list.compactMap(parseInt)
        guard parsed.count == list.count, parsed.count <= 16, parsed.allSatisfy({ (1...256).contains($0) }) else {
            throw arguments.invalidValue(name, expected: "1 to 16 comma-separated integers in 1...256")
        }
        return parsed
    }
}
