import Foundation

/// A trained denoiser: the mask network plus the signal settings it was trained with.
public final class DenoiseModel {
    /// File format versions this build reads, oldest first. Version 2 added CNN skip connections
    /// (`MaskNetConfig.residual`), which a version-1 reader would silently leave out; version 3 causal
    /// convolutions, which an earlier reader would run centred; version 4 the speech-probability head, whose tensors
    /// an earlier reader would find too many for the configuration it reads; version 5 the running input
    /// normalisation (`InputNormKind.running`), which an earlier reader cannot decode and would report as a
    /// file without a readable configuration; version 6 band input (`MaskNetConfig.inputBands`), which an earlier
    /// reader would skip, feeding bins to a network whose first layer was trained on bands; version 7 the
    /// noise-floor input (`MaskNetConfig.floorBands`), which an earlier reader would skip, finding the first layer
    /// wider than the input it builds; version 8 a noise-floor window other than the first one
    /// (`MaskNetConfig.floorWindow`), which an earlier reader would skip, tracking the floor over another window than
    /// the network was trained with.
    static let formatVersions = ["denoise-model-1", "denoise-model-2", "denoise-model-3", "denoise-model-4",
                                 "denoise-model-5", "denoise-model-6", "denoise-model-7", "denoise-model-8"]
    /// Largest FFT size a model may ask for (1 s at 16 kHz is 16384 samples).
    static let largestFFT = 1 << 16

    public let net: MaskNet
    public let stft: STFTConfig
    public let sampleRate: Int
    public var training: TrainingSummary?
    /// The blend this model's weights come from (`interpolated(toward:weight:)`): the model itself when it has no
    /// training summary, else the start of the runs in its summary. Nil for a model trained from scratch.
    public var blend: BlendSummary?
    /// The power the denoiser raises this model's mask to unless told otherwise: below 1 keeps more speech (and
    /// noise), above 1 removes more of both. Chosen after training, on validation recordings.
    public var maskExponent: Float = 1 {
        didSet { precondition(DenoiseModel.maskExponents.contains(maskExponent), "mask exponent \(maskExponent)") }
    }
    /// The attenuation limit the denoiser holds this model's mask to unless told otherwise (`DenoiserOptions`), in
    /// dB; nil for none. A floor keeps a trace of the noise where the mask would leave a hole; chosen after training,
    /// on validation recordings, as the exponent is.
    public var attenuationLimitDB: Float? {
        didSet {
            precondition(attenuationLimitDB.map(DenoiseModel.attenuationLimits.contains) ?? true,
                         "attenuation limit \(attenuationLimitDB ?? 0)")
        }
    }
    /// Limits a model file may carry (dB): a finite level, 0 (no attenuation at all) or more.
    public static let attenuationLimits: ClosedRange<Float> = 0...Float.greatestFiniteMagnitude
    /// Exponents a model file may carry, and how messages describe them.
    public static let maskExponents: ClosedRange<Float> = 0.05...20
    public static var maskExponentsDescription: String {
        "a number in \(maskExponents.lowerBound)...\(maskExponents.upperBound)"
    }
    /// How inputs at higher rates keep the band above this model's Nyquist frequency.
    public var highBand: HighBandSettings {
        didSet { precondition((try? highBand.validate(sampleRate: sampleRate)) != nil, "high band \(highBand)") }
    }

    /// `initializeWeights`: false leaves the weights zero, for a caller that loads them next.
    public init(config: MaskNetConfig, stft: STFTConfig = STFTConfig(), sampleRate: Int = 16000, seed: UInt64 = 0,
                initializeWeights: Bool = true) throws {
        try stft.validate()
        guard config.bins == stft.bins else {
            throw ModelFileError.invalidConfig(
                "network has \(config.bins) bins but n_fft \(stft.nFFT) gives \(stft.bins)")
        }
        guard (8000...96000).contains(sampleRate) else {
            throw ModelFileError.invalidConfig("sample rate \(sampleRate) Hz is outside 8000...96000")
        }
        self.net = try MaskNet(config: config, seed: seed, initializeWeights: initializeWeights,
                               frameSeconds: Double(stft.hop) / Double(sampleRate),
                               nyquistHz: Double(sampleRate) / 2)
        self.stft = stft
        self.sampleRate = sampleRate
        self.highBand = HighBandSettings(sampleRate: sampleRate)
    }

    /// The model as safetensors: one tensor per parameter (and BatchNorm running statistics),
    /// configuration in `__metadata__`. With `.float16` each tensor is stored as float16 unless one of its values
    /// lies past float16's range; that tensor stays float32.
    public func safeTensors(precision: SafeTensors.Precision = .float32) -> SafeTensors {
        var file = SafeTensors()
        func add(_ name: String, shape: [Int], values: [Float]) {
            var tensor = SafeTensors.Tensor(shape: shape, values: values)
            if precision == .float16, tensor.fitsFloat16 { tensor.precision = .float16 }
            file.tensors[name] = tensor
        }
        for entry in net.store.entries {
            let values = Array(UnsafeBufferPointer(start: net.store.values + entry.offset, count: entry.count))
            add(entry.name, shape: entry.shape, values: values)
        }
        for (name, bn) in net.batchNorms {
            add(name + ".running_mean", shape: [bn.runningMean.count], values: bn.runningMean)
            add(name + ".running_var", shape: [bn.runningVariance.count], values: bn.runningVariance)
        }
        file.metadata["format"] = formatVersion
        file.metadata["masknet"] = DenoiseModel.json(net.config)
        file.metadata["stft"] = DenoiseModel.json(stft)
        file.metadata["sample_rate"] = String(sampleRate)
        // The band the network was trained on, for readers of the file; it follows from the rate.
        file.metadata["band_hz"] = "0-\(sampleRate / 2)"
        file.metadata["high_band"] = DenoiseModel.json(highBand)
        if let training { file.metadata["training"] = DenoiseModel.json(training) }
        if let blend { file.metadata["blend"] = DenoiseModel.json(blend) }
        if maskExponent != 1 { file.metadata["mask_exponent"] = String(maskExponent) }
        if let attenuationLimitDB { file.metadata["attenuation_limit_db"] = String(attenuationLimitDB) }
        return file
    }

    /// The version this model is written as: the oldest that describes it, so that older builds still read the
    /// models they can run and refuse the others instead of misreading them.
    public var formatVersion: String {
        let config = net.config
        return DenoiseModel.formatVersions[config.floorWindow != nil ? 7 : config.floorBands != nil ? 6
                                           : config.inputBands != nil ? 5
                                           : config.inputNorm == .running ? 4
                                           : config.speechHead ? 3 : config.causal ? 2 : config.residual ? 1 : 0]
    }

    /// Whether the model gives a speech probability per frame besides the mask.
    public var hasSpeechHead: Bool { net.config.speechHead }

    /// This model with a speech-probability head added (for fine-tuning a model trained without one): every other
    /// tensor, the running statistics and the settings are copied; the head starts from its initialisation with
    /// `seed`. A model that has the head already is returned as it is.
    public func addingSpeechHead(seed: UInt64 = 0) throws -> DenoiseModel {
        guard !hasSpeechHead else { return self }
        var config = net.config
        config.speechHead = true
        return try rebuilt(config: config, seed: seed)
    }

    /// This model with one more residual block per entry of `dilations` after its last block (for training a larger
    /// network from a trained one): every tensor, the running statistics and the settings are copied, and each new
    /// block starts close to the identity. Its convolution draws its initial weights with `seed` and its norm's gain
    /// is `addedBlockGain`, so the block adds a hundredth of a normalised activation to what the model computed.
    /// Needs a CNN with skip connections, whose blocks after the first add their input to their output.
    public func addingBlocks(dilations: [Int], seed: UInt64 = 0) throws -> DenoiseModel {
        var config = net.config
        guard config.kind == .cnn && config.residual else {
            throw ModelFileError.invalidConfig("blocks can be added only to a CNN with skip connections (--residual), "
                                               + "whose new blocks can start close to the identity")
        }
        let first = config.dilations.count
        config.dilations += dilations
        let model = try rebuilt(config: config, seed: seed)
        for block in first..<config.dilations.count {
            guard let gain = model.net.store.entry(named: "block\(block).norm.weight") else {
                preconditionFailure("block \(block) has no norm gain")
            }
            (model.net.store.values + gain.offset).update(repeating: Self.addedBlockGain, count: gain.count)
        }
        model.net.store.markValuesChanged()
        return model
    }

    /// This model with the noise-floor input of `bands` ERB bands added (`MaskNetConfig.floorBands`), for training a
    /// trained model to use it: every tensor, the running statistics and the settings are copied; the first
    /// convolution's weights for the new channels are zero, so the model computes exactly what it did until
    /// training moves them, and the input norm's new channels start at their initialisation (gain 1, shift 0).
    /// Needs a CNN whose input norm works per channel (batch or running): a per-frame norm (layer) would mix the
    /// new channels into the old ones' statistics. `window`: the floor's, in seconds (nil for the default).
    public func addingFloorInput(bands: Int, window: Double? = nil, seed: UInt64 = 0) throws -> DenoiseModel {
        var config = net.config
        guard config.floorBands == nil else {
            throw ModelFileError.invalidConfig("the model has a noise-floor input already (\(config.floorBands ?? 0) "
                                               + "bands)")
        }
        guard config.kind == .cnn && config.inputNorm != .layer else {
            throw ModelFileError.invalidConfig("a noise-floor input can be added only to a CNN whose input norm "
                                               + "works per channel (batch or running), not to "
                                               + (config.kind == .cnn ? "a layer-normalised input" : "an MLP"))
        }
        let oldWidth = config.inputWidth
        config.floorBands = bands
        config.floorWindow = window
        let newWidth = config.inputWidth, kernel = config.kernelSize, hidden = config.hidden
        return try rebuilt(config: config, seed: seed) { name, from, into in
            if name == "block0.conv.weight" {
                // [Cout × Cin × k]: each output channel's old inputs, then zeros for the new ones.
                for o in 0..<hidden {
                    (into + o * newWidth * kernel).update(from: from + o * oldWidth * kernel, count: oldWidth * kernel)
                    (into + o * newWidth * kernel + oldWidth * kernel).update(repeating: 0,
                                                                              count: (newWidth - oldWidth) * kernel)
                }
            } else {
                precondition(name.hasPrefix("input_norm."),
                             "parameter \(name) differs between a model and its extension")
                into.update(from: from, count: oldWidth)
            }
        }
    }

    /// The norm gain an added block starts with: small, so the block starts close to the identity, but not 0, where
    /// the ReLU after the norm would see only zeros and pass no gradient back to the gain or the convolution.
    static let addedBlockGain: Float = 0.01

    /// A model of `config` holding every tensor of this one, its running statistics and its settings; tensors only
    /// `config` has keep their initialisation with `seed`. A tensor whose size differs is `widen`'s to copy (given its
    /// name, this model's values and the new model's): without it, every tensor must keep its shape. Running
    /// statistics are copied into the first channels of the new ones.
    private func rebuilt(config: MaskNetConfig, seed: UInt64,
                         widen: ((String, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void)? = nil)
        throws -> DenoiseModel {
        let model = try DenoiseModel(config: config, stft: stft, sampleRate: sampleRate, seed: seed)
        for entry in net.store.entries {
            guard let target = model.net.store.entry(named: entry.name) else {
                preconditionFailure("parameter \(entry.name) lost in an extension")
            }
            let from = net.store.values + entry.offset, into = model.net.store.values + target.offset
            if target.count == entry.count {
                into.update(from: from, count: entry.count)
            } else if let widen {
                widen(entry.name, from, into)
            } else {
                preconditionFailure("parameter \(entry.name) differs between a model and its extension")
            }
        }
        model.net.store.markValuesChanged()
        let batchNorms = Dictionary(uniqueKeysWithValues: model.net.batchNorms)
        for (name, from) in net.batchNorms {
            guard let to = batchNorms[name] else { preconditionFailure("BatchNorm \(name) lost in an extension") }
            to.runningMean.replaceSubrange(0..<from.runningMean.count, with: from.runningMean)
            to.runningVariance.replaceSubrange(0..<from.runningVariance.count, with: from.runningVariance)
        }
        model.training = training
        model.blend = blend
        model.maskExponent = maskExponent
        model.attenuationLimitDB = attenuationLimitDB
        model.highBand = highBand
        return model
    }

    /// Input needed after a sample before its output is final: one analysis frame plus the network's look-ahead.
    public var latencySeconds: Double {
        Double(stft.nFFT + net.config.lookAheadFrames * stft.hop) / Double(sampleRate)
    }

    /// Writes the model; `.float16` halves the file and rounds each weight to 11 significant bits.
    public func save(to url: URL, precision: SafeTensors.Precision = .float32) throws {
        try safeTensors(precision: precision).write(to: url)
    }

    public static func load(url: URL) throws -> DenoiseModel {
        try DenoiseModel(safeTensors: SafeTensors.read(url: url), path: url.path)
    }

    /// Rebuilds a model from a decoded file, checking version, shapes and finiteness of every tensor.
    public convenience init(safeTensors file: SafeTensors, path: String) throws {
        let meta = file.metadata
        guard let format = meta["format"] else {
            throw ModelFileError.malformed(path: path, reason: "no 'format' in metadata")
        }
        guard DenoiseModel.formatVersions.contains(format) else {
            throw ModelFileError.unsupportedVersion(path: path, found: format)
        }
        guard let config: MaskNetConfig = DenoiseModel.decode(meta["masknet"]),
              let stft: STFTConfig = DenoiseModel.decode(meta["stft"]),
              let rate = meta["sample_rate"].flatMap(Int.init)
        else {
            throw ModelFileError.malformed(path: path, reason: "metadata lacks a readable masknet, stft or sample_rate")
        }
        // The configuration decides what gets allocated: check it against the data actually present first
        // (with some slack, so that a file short of a tensor or two is reported by the tensor's name below).
        let floats = Double(file.tensors.values.reduce(0) { $0 + $1.values.count })
        guard config.parameterCount <= floats + Double(1 << 24), stft.nFFT <= DenoiseModel.largestFFT else {
            throw ModelFileError.malformed(path: path,
                                           reason: "its configuration needs \(config.parameterCount) parameters "
                                               + "(n_fft \(stft.nFFT)) but the file holds \(Int(floats)) values")
        }
        do {
            try self.init(config: config, stft: stft, sampleRate: rate, initializeWeights: false)
        } catch let error as ModelFileError {
            throw ModelFileError.malformed(path: path, reason: error.description)
        }
        training = DenoiseModel.decode(meta["training"])
        blend = DenoiseModel.decode(meta["blend"])
        if let text = meta["mask_exponent"] {
            guard let exponent = Float(text), DenoiseModel.maskExponents.contains(exponent) else {
                throw ModelFileError.malformed(path: path, reason: "mask_exponent '\(text)' is not "
                                               + DenoiseModel.maskExponentsDescription)
            }
            maskExponent = exponent
        }
        if let text = meta["attenuation_limit_db"] {
            guard let limit = Float(text), DenoiseModel.attenuationLimits.contains(limit) else {
                throw ModelFileError.malformed(path: path, reason: "attenuation_limit_db '\(text)' is not a finite "
                                               + "level in dB >= 0")
            }
            attenuationLimitDB = limit
        }
        if let text = meta["high_band"] {
            guard let settings: HighBandSettings = DenoiseModel.decode(text),
                  (try? settings.validate(sampleRate: rate)) != nil else {
                throw ModelFileError.malformed(path: path, reason: "high_band '\(text)' is not a band below "
                                               + "\(rate / 2) Hz")
            }
            highBand = settings
        }
        func tensor(_ name: String, shape: [Int]) throws -> [Float] {
            guard let t = file.tensors[name] else { throw ModelFileError.missingTensor(path: path, name: name) }
            guard t.shape == shape else {
                throw ModelFileError.shapeMismatch(path: path, name: name, expected: shape, found: t.shape)
            }
            guard t.values.allSatisfy({ $0.isFinite }) else { throw ModelFileError.nonFinite(path: path, name: name) }
            return t.values
        }
        for entry in net.store.entries {
            let values = try tensor(entry.name, shape: entry.shape)
            (net.store.values + entry.offset).update(from: values, count: entry.count)
        }
        net.store.markValuesChanged()
        for (name, bn) in net.batchNorms {
            bn.runningMean = try tensor(name + ".running_mean", shape: [bn.runningMean.count])
            bn.runningVariance = try tensor(name + ".running_var", shape: [bn.runningVariance.count])
        }
    }

    /// One metadata entry as JSON; a blend record in it refers back to records it has written already.
    static func json<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.userInfo[BlendRecords.key] = BlendRecords()
        return (try? encoder.encode(value)).flatMap { String(data: $0, encoding: .utf8) } ?? "{}"
    }

    static func decode<T: Decodable>(_ text: String?) -> T? {
        guard let text else { return nil }
        let decoder = JSONDecoder()
        decoder.userInfo[BlendRecords.key] = BlendRecords()
        return try? decoder.decode(T.self, from: Data(text.utf8))
    }
}
