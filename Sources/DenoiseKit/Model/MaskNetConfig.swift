/// Which network estimates the mask.
public enum MaskNetKind: String, Codable, CaseIterable, Sendable {
    /// Per frame, on ±`context` stacked frames: input norm → [Linear → Norm → ReLU → Dropout] × n → Linear →
    /// Sigmoid.
    case mlp
    /// 1-D dilated convolutions over time: input norm → [Conv1d → Norm → ReLU → Dropout] × n → Conv1d(k1) →
    /// Sigmoid; with `residual`, blocks after the first add their input to their output. The input norm is
    /// `MaskNetConfig.inputNorm`: per bin with the training data's statistics (BatchNorm), per frame (LayerNorm),
    /// or per bin with the utterance's running statistics (`InputNormKind.running`).
    case cnn
}

/// The normalisation of the log-power input: a kind of its own, since the input has one the hidden layers cannot
/// have (`running`) and lacks two they can (group and instance norms would need the whole utterance).
public enum InputNormKind: String, Codable, CaseIterable, Sendable {
    /// Per bin, by statistics of the training data (BatchNorm's running statistics at inference): keeps the level
    /// differences between frames that tell speech from noise, but carries the training corpus's spectrum.
    case batch
    /// Per frame (or MLP context window) on its own (LayerNorm).
    case layer
    /// Per bin, by the exponentially weighted mean and variance of the utterance so far (time constant 1 s, see
    /// `RunningNormalizer`), then a learned per-bin affine (`ChannelAffine`). Causal and stateful: no corpus
    /// statistics are carried, and every path feeds the state each frame once, in order.
    case running

    /// τ of `running`, in seconds (see `RunningNormalizer`).
    public static var runningTimeConstantSeconds: Double { RunningNormalizer.timeConstantSeconds }
}

/// The normalisation used in the hidden layers.
public enum NormKind: String, Codable, CaseIterable, Sendable {
    /// Per frame over features: independent of the batch and of other frames, so it streams.
    case layer
    /// Per utterance over (channels in a group × real frames): needs the whole utterance.
    case group
    /// Per utterance and channel over real frames: needs the whole utterance.
    case instance
    /// Batch statistics in training, running statistics at inference (per frame then, so it streams).
    case batch

    /// True when inference output for a frame depends only on nearby frames, so the denoiser can
    /// process a file in fixed-size windows.
    public var isFrameLocal: Bool { self == .layer || self == .batch }
}

/// Everything needed to rebuild a MaskNet's graph; stored in the model file's metadata.
public struct MaskNetConfig: Codable, Equatable, Sendable {
    public var kind: MaskNetKind
    /// Spectral bins in and mask bins out (n_fft / 2 + 1).
    public var bins: Int
    /// MLP: frames of context on each side of the centre frame.
    public var context: Int
    /// Width of the hidden layers (MLP units or CNN channels).
    public var hidden: Int
    /// MLP: number of hidden layers.
    public var hiddenLayers: Int
    /// CNN: kernel size of the dilated convolutions (odd).
    public var kernelSize: Int
    /// CNN: one dilated convolution block per entry.
    public var dilations: [Int]
    /// CNN: every block after the first adds its input to its output (a skip connection), which lets deeper
    /// stacks train. Absent from files written before it existed, which read as false.
    public var residual: Bool
    /// CNN: every convolution sees only the current and earlier frames, so the network adds no look-ahead and a
    /// frame's mask is final as soon as the frame is (live use). Needs per-frame normalisation in the hidden
    /// layers (LayerNorm): GroupNorm and InstanceNorm average over the whole utterance, BatchNorm over the batch's
    /// frames, later ones included. Absent from files written before it existed, which read as false.
    public var causal: Bool
    public var norm: NormKind
    /// Normalisation of the log-power input (see `InputNormKind`).
    public var inputNorm: InputNormKind
    /// GroupNorm groups (used when `norm == .group`).
    public var groups: Int
    public var dropout: Float
    /// A second output: one speech probability per frame, a Linear from the last hidden layer's activations to one
    /// logit (sigmoid at inference), trained jointly with the mask (`Loss.binaryCrossEntropy` against
    /// `SpeechActivity`). It sees what the mask sees, so it is causal when the network is. Absent from files
    /// written before it existed, which read as false, and left out of the file's JSON when false.
    public var speechHead: Bool
    /// The network's input: nil for one log-power per bin; N for N log band powers, from triangular bands equally
    /// spaced on the ERB-rate scale up to the Nyquist frequency (`ERBBands`), pooled at the start of the network,
    /// before the input norm, which then works per band. The mask is still one value per bin. Absent from files
    /// written before it existed, which read as nil, and left out of the file's JSON when nil.
    public var inputBands: Int?
    /// A second input beside the log powers: for N ERB bands (pooled as for `inputBands`), each frame's log power
    /// above a causal noise-floor track (`NoiseFloorTracker`), appended to the network's input channels and
    /// normalised with them. Nil for none. Absent from files written before it existed, which read as nil, and left
    /// out of the file's JSON when nil.
    public var floorBands: Int?
    /// How far back the `floorBands` input's floor looks, in seconds: nil for `defaultFloorWindow`, the window of
    /// every model written before the field existed. Left out of the file's JSON when nil.
    public var floorWindow: Double?

    /// Smallest band count `inputBands` and `floorBands` accept: fewer bands than this smear whole formants together.
    public static let fewestInputBands = 8

    /// How far back the `floorBands` input's floor looks unless `floorWindow` says otherwise, in seconds.
    public static var defaultFloorWindow: Double { NoiseFloorTracker.defaultWindowSeconds }
    /// How far back this model's floor looks, in seconds: `floorWindow`, or the default.
    public var floorWindowSeconds: Double { floorWindow ?? MaskNetConfig.defaultFloorWindow }
    /// Floor windows a model may ask for, in seconds: from a few frames to what a steady noise stays steady for.
    public static let floorWindows: ClosedRange<Double> = 0.2...10

    /// The network `denoise train` builds unless told otherwise: this configuration's defaults with 32 ERB bands as
    /// input and the running input norm. Of the four inputs compared from scratch on a leave-noise-out split (per
    /// bin or 32 bands, each with the corpus-statistics BatchNorm or the running norm), that one scored best on
    /// noise never trained on (samples/README.md). `init`'s own defaults stay the per-bin BatchNorm input the
    /// bundled models have.
    public static func recommended(kind: MaskNetKind) -> MaskNetConfig {
        MaskNetConfig(kind: kind, inputNorm: .running, inputBands: 32)
    }

    public init(kind: MaskNetKind, bins: Int = 257, context: Int = 2, hidden: Int? = nil, hiddenLayers: Int = 2,
                kernelSize: Int = 5, dilations: [Int] = [1, 2, 4], residual: Bool = false, causal: Bool = false,
                norm: NormKind = .layer, inputNorm: InputNormKind = .batch, groups: Int = 8, dropout: Float = 0.1,
                speechHead: Bool = false, inputBands: Int? = nil, floorBands: Int? = nil,
                floorWindow: Double? = nil) {
        self.kind = kind
        self.bins = bins
        self.context = context
        self.hidden = hidden ?? (kind == .mlp ? 512 : 256)
        self.hiddenLayers = hiddenLayers
        self.kernelSize = kernelSize
        self.dilations = dilations
        self.residual = residual
        self.causal = causal
        self.norm = norm
        self.inputNorm = inputNorm
        self.groups = groups
        self.dropout = dropout
        self.speechHead = speechHead
        self.inputBands = inputBands
        self.floorBands = floorBands
        self.floorWindow = floorWindow
    }

    private enum CodingKeys: String, CodingKey {
        case kind, bins, context, hidden, hiddenLayers, kernelSize, dilations, residual, causal, norm, inputNorm, groups
        case dropout, speechHead, inputBands, floorBands, floorWindow
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        kind = try c.decode(MaskNetKind.self, forKey: .kind)
        bins = try c.decode(Int.self, forKey: .bins)
        context = try c.decode(Int.self, forKey: .context)
        hidden = try c.decode(Int.self, forKey: .hidden)
        hiddenLayers = try c.decode(Int.self, forKey: .hiddenLayers)
        kernelSize = try c.decode(Int.self, forKey: .kernelSize)
        dilations = try c.decode([Int].self, forKey: .dilations)
        residual = try c.decodeIfPresent(Bool.self, forKey: .residual) ?? false
        causal = try c.decodeIfPresent(Bool.self, forKey: .causal) ?? false
        norm = try c.decode(NormKind.self, forKey: .norm)
        inputNorm = try c.decode(InputNormKind.self, forKey: .inputNorm)
        groups = try c.decode(Int.self, forKey: .groups)
        dropout = try c.decode(Float.self, forKey: .dropout)
        speechHead = try c.decodeIfPresent(Bool.self, forKey: .speechHead) ?? false
        inputBands = try c.decodeIfPresent(Int.self, forKey: .inputBands)
        floorBands = try c.decodeIfPresent(Int.self, forKey: .floorBands)
        floorWindow = try c.decodeIfPresent(Double.self, forKey: .floorWindow)
    }

    /// Writes every field, `speechHead` only when true and `inputBands`, `floorBands` and `floorWindow` only when
    /// set, so that a model without them is described exactly as before they existed.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .kind)
        try c.encode(bins, forKey: .bins)
        try c.encode(context, forKey: .context)
        try c.encode(hidden, forKey: .hidden)
        try c.encode(hiddenLayers, forKey: .hiddenLayers)
        try c.encode(kernelSize, forKey: .kernelSize)
        try c.encode(dilations, forKey: .dilations)
        try c.encode(residual, forKey: .residual)
        try c.encode(causal, forKey: .causal)
        try c.encode(norm, forKey: .norm)
        try c.encode(inputNorm, forKey: .inputNorm)
        try c.encode(groups, forKey: .groups)
        try c.encode(dropout, forKey: .dropout)
        if speechHead { try c.encode(speechHead, forKey: .speechHead) }
        if let inputBands { try c.encode(inputBands, forKey: .inputBands) }
        if let floorBands { try c.encode(floorBands, forKey: .floorBands) }
        if let floorWindow { try c.encode(floorWindow, forKey: .floorWindow) }
    }

    /// Frames after a frame that its mask depends on: what the denoiser must wait for.
    public var lookAheadFrames: Int { causal ? 0 : historyFrames }

    /// Frames before a frame that its mask depends on.
    var historyFrames: Int {
        switch kind {
        case .mlp: return context
        case .cnn: return dilations.reduce(0) { $0 + $1 * (causal ? kernelSize - 1 : (kernelSize - 1) / 2) }
        }
    }

    /// Log-power values per frame after the band pooling: bands or bins (what the running input norm works on).
    var powerWidth: Int { inputBands ?? bins }

    /// Values per frame the network reads (the input norm's channels): the log powers, then the floor bands.
    var inputWidth: Int { powerWidth + (floorBands ?? 0) }

    /// Number of parameters this configuration has, in Double so that an absurd configuration read
    /// from a file can be rejected before anything is allocated.
    public var parameterCount: Double {
        let bins = Double(self.bins), width = Double(hidden), inputWidth = Double(self.inputWidth)
        let normParameters = 2.0  // gain and shift (or BatchNorm's weight and bias) per channel
        let head = speechHead ? width + 1 : 0
        switch kind {
        case .mlp:
            var inputs = Double(2 * context + 1) * inputWidth
            var total = normParameters * inputs
            for _ in 0..<min(hiddenLayers, 1 << 20) {
                total += inputs * width + width + normParameters * width
                inputs = width
            }
            return total + inputs * bins + bins + head
        case .cnn:
            var channels = inputWidth
            var total = normParameters * inputWidth
            for _ in dilations.prefix(1 << 20) {
                total += channels * width * Double(kernelSize) + width + normParameters * width
                channels = width
            }
            return total + channels * bins + bins + head
        }
    }

    public func validate() throws {
        func bad(_ message: String) -> ModelFileError { .invalidConfig(message) }
        guard bins >= 2 else { throw bad("bins must be at least 2, got \(bins)") }
        guard hidden >= 1 else { throw bad("hidden width must be positive, got \(hidden)") }
        guard (0..<1).contains(dropout) else { throw bad("dropout must lie in [0, 1), got \(dropout)") }
        let fewest = MaskNetConfig.fewestInputBands
        if let inputBands {
            guard inputBands >= fewest && inputBands <= bins else {
                throw bad("input bands must lie in \(fewest)...\(bins) (the bins), got \(inputBands)")
            }
        }
        if let floorBands {
            guard floorBands >= fewest && floorBands <= bins else {
                throw bad("noise-floor bands must lie in \(fewest)...\(bins) (the bins), got \(floorBands)")
            }
        }
        if let floorWindow {
            guard floorBands != nil else { throw bad("a noise-floor window needs the noise-floor input (floorBands)") }
            let windows = MaskNetConfig.floorWindows
            guard windows.contains(floorWindow) else {
                throw bad("the noise-floor window must lie in \(windows.lowerBound)...\(windows.upperBound) s, "
                          + "got \(floorWindow)")
            }
        }
        switch kind {
        case .mlp:
            guard context >= 0 && context <= 64 else { throw bad("context must lie in 0...64 frames, got \(context)") }
            guard hiddenLayers >= 1 else { throw bad("an MLP needs at least one hidden layer") }
        case .cnn:
            guard kernelSize >= 1 && (causal || kernelSize % 2 == 1) else {
                throw bad("kernel size must be odd, got \(kernelSize)")
            }
            guard !dilations.isEmpty && dilations.allSatisfy({ $0 >= 1 }) else { throw bad("dilations must be ≥ 1") }
        }
        if causal {
            guard kind == .cnn else { throw bad("only a CNN can be causal; an MLP's context reaches both ways") }
            guard norm == .layer else {
                throw bad("a causal network needs per-frame (layer) normalisation in its hidden layers: \(norm) "
                          + "averages over " + (norm == .batch ? "the batch's frames" : "the whole utterance")
                          + ", later frames included")
            }
        }
        if norm == .group {
            guard groups >= 1 && hidden % groups == 0 else {
                throw bad("GroupNorm needs hidden width \(hidden) divisible by groups \(groups)")
            }
        }
    }
}
