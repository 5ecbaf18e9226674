/// The mask-estimating network: log-power frames in, a mask in (0, 1) per bin out.
///
/// Both kinds start by normalising the log-power input (per bin over the training data by default; with
/// `InputNormKind.running`, per bin over each utterance so far, see `RunningNormalizer`, before any context
/// stacking) and end with a sigmoid. Layout: features [rows × bins] (rows = utterances × padded frames, see
/// `SequenceBatch`), mask [rows × bins]. The MLP first stacks ±`context` frames of each utterance into one row
/// [rows × (2·context + 1)·bins]; frames outside an utterance's real frames read as silence (as 0, a steady bin,
/// after the running normalisation).
///
/// With `config.inputBands`, each frame's log-power bins are first pooled into that many log band powers (`ERBBands`,
/// fixed, nothing learnt), and everything up to the mask's output projection works on bands instead of bins:
/// the input norm (and its running statistics), the context stacking [rows × (2·context + 1)·bands] and the first
/// projection. The mask is still [rows × bins]. Silence pools to silence, so context padding is unchanged.
///
/// With `config.floorBands`, each frame's height above a noise-floor track per ERB band (`NoiseFloorTracker`, causal
/// and stateful like the running norm) is appended to the log powers before the input norm: the first projection
/// reads [log powers | floor bands].
///
/// With `config.speechHead`, a Linear on the last hidden layer's activations [rows × hidden] gives one speech logit
/// per frame [rows × 1] (`speechLogits`); its gradient joins the mask's at that layer (joint training).
public final class MaskNet {
    public let config: MaskNetConfig
    let store: ParameterStore
    let network: Sequential
    /// The speech-probability head: last hidden activations → one logit per frame (nil without the head).
    let speechHead: Linear?
    /// The start of the names of the speech head's tensors in the store and the model file.
    static let speechHeadPrefix = "speech."
    /// Dropout layers in graph order (their generators are part of a training checkpoint).
    let dropouts: [Dropout]
    /// BatchNorm layers by parameter-name prefix (their running statistics are saved with the model).
    let batchNorms: [(name: String, layer: BatchNorm)]
    private let stacked = Matrix(rows: 0, cols: 0)
    // Packed MLP path (see `forward`): the mask scattered back to the caller's padded rows, the mask gradient
    // gathered onto the packed rows, and the caller's layout of the last forward (nil: not packed).
    private let paddedMask = Matrix(rows: 0, cols: 0)
    private let packedGradient = Matrix(rows: 0, cols: 0)
    private var packedLayout: SequenceBatch?
    /// `forward`'s input stage (bands, the running norm, the floor), one utterance of the batch at a time.
    private let inputStage: InputStage
    /// The band pooling of the input (nil without `config.inputBands`).
    var inputBands: ERBBands? { inputStage.bands }
    /// True when a frame's network input depends on the frames before it (`InputStage.isStateful`): a caller that
    /// feeds an utterance in pieces then keeps a stage of its own (`makeInputStage()`).
    var hasStatefulInput: Bool { inputStage.isStateful }
    /// Seconds from one frame to the next: the running input normalisation's clock.
    let frameSeconds: Double
    private let paddedSpeechLogits = Matrix(rows: 0, cols: 0)
    private let packedSpeechGradient = Matrix(rows: 0, cols: 0)
    /// Speech logits [rows × 1] of the last forward, in the caller's rows (nil without the head). They belong to
    /// the network, like the mask.
    private(set) var speechLogits: Matrix?

    /// Log-power of digital silence (ln 1e-10, as `Features.logPower`): what context frames
    /// outside an utterance read as.
    public static let silence: Float = -23.02585

    /// Frames of the default STFT at 16 kHz (16 ms), for a network built without a model around it.
    public static let defaultFrameSeconds = Double(STFTConfig().hop) / 16000

    /// The Nyquist frequency of a 16 kHz model, for a network built without a model around it.
    public static let defaultNyquistHz = 8000.0

    /// `initializeWeights`: false leaves the weights zero (for a model about to load them from a file).
    /// `frameSeconds`: hop / sample rate of the frames the network will see (the running input normalisation's
    /// time constant is counted in them). `nyquistHz`: the frequency of the last bin (where the input bands end).
    public init(config: MaskNetConfig, seed: UInt64 = 0, initializeWeights: Bool = true,
                frameSeconds: Double = MaskNet.defaultFrameSeconds,
                nyquistHz: Double = MaskNet.defaultNyquistHz) throws {
        try config.validate()
        guard frameSeconds > 0 && frameSeconds.isFinite else {
            throw ModelFileError.invalidConfig("frames must be a positive time apart, got \(frameSeconds) s")
        }
        guard nyquistHz > 0 && nyquistHz.isFinite else {
            throw ModelFileError.invalidConfig("the Nyquist frequency must be positive, got \(nyquistHz) Hz")
        }
        self.config = config
        self.frameSeconds = frameSeconds
        store = ParameterStore(capacity: Int(config.parameterCount), runsInitializers: initializeWeights)
        var rng = RandomGenerator(seed: seed)
        var layers: [Layer] = []
        var dropouts: [Dropout] = []
        var batchNorms: [(String, BatchNorm)] = []
        let store = self.store
        let width = config.hidden

        // A hidden norm and its ReLU: fused into one sweep where the norm supports it.
        func rectifiedNorm(_ name: String) {
            switch config.norm {
            case .layer: layers.append(LayerNorm(width, rectified: true, store: store, name: name))
            case .group:
                layers.append(GroupNorm(groups: config.groups, channels: width, rectified: true, store: store,
                                        name: name))
            case .instance: layers.append(InstanceNorm(width, rectified: true, store: store, name: name))
            case .batch:
                let layer = BatchNorm(width, store: store, name: name)
                batchNorms.append((name, layer))
                layers.append(layer)
                layers.append(ReLU())
            }
        }
        func inputNorm(_ features: Int) -> Layer {
            switch config.inputNorm {
            case .layer: return LayerNorm(features, store: store, name: "input_norm")
            // The statistics are taken before the network (`InputStage`); the layer is their affine.
            case .running: return ChannelAffine(features, store: store, name: "input_norm")
            case .batch:
                let layer = BatchNorm(features, store: store, name: "input_norm")
                batchNorms.append(("input_norm", layer))
                return layer
            }
        }
        func dropout() {
            guard config.dropout > 0 else { return }
            let layer = Dropout(p: config.dropout, seed: rng.next())
            dropouts.append(layer)
            layers.append(layer)
        }

        switch config.kind {
        case .mlp:
            var features = (2 * config.context + 1) * config.inputWidth
            layers.append(inputNorm(features))
            for i in 0..<config.hiddenLayers {
                layers.append(Linear(features, width, store: store, name: "hidden\(i).linear", rng: &rng))
                rectifiedNorm("hidden\(i).norm")
                dropout()
                features = width
            }
            layers.append(Linear(features, config.bins, store: store, name: "output.linear", rng: &rng))
        case .cnn:
            var channels = config.inputWidth
            layers.append(inputNorm(channels))
            for (i, dilation) in config.dilations.enumerated() {
                let blockStart = layers.count
                layers.append(Conv1d(channels, width, kernelSize: config.kernelSize, dilation: dilation,
                                     causal: config.causal, store: store, name: "block\(i).conv", rng: &rng))
                rectifiedNorm("block\(i).norm")
                dropout()
                // The first block changes the width (bins or bands → channels), so it cannot add its input.
                if config.residual && channels == width {
                    let block = Sequential(Array(layers[blockStart...]))
                    layers.removeSubrange(blockStart...)
                    layers.append(Residual(block))
                }
                channels = width
            }
            layers.append(Conv1d(channels, config.bins, kernelSize: 1, store: store, name: "output.conv", rng: &rng))
        }
        layers.append(Sigmoid())
        // Created last, so the other layers draw the same initial weights with or without it.
        speechHead = config.speechHead ? Linear(width, 1, store: store, name: Self.speechHeadPrefix + "linear",
                                                 rng: &rng) : nil
        self.network = Sequential(layers)
        self.dropouts = dropouts
        self.batchNorms = batchNorms
        let inputBands = config.inputBands.map { ERBBands(bands: $0, bins: config.bins, nyquistHz: nyquistHz) }
        let floorBands = config.floorBands.map { ERBBands(bands: $0, bins: config.bins, nyquistHz: nyquistHz) }
        inputStage = MaskNet.inputStage(config, bands: inputBands, floorBands: floorBands, frameSeconds: frameSeconds)
    }

    /// A fresh input stage for one stream of frames: for a caller that feeds the network an utterance in pieces and
    /// puts its frames through the stage itself (`forward(_:layout:training:inputStaged:)`, `MaskNetStream`).
    func makeInputStage() -> InputStage {
        MaskNet.inputStage(config, bands: inputBands, floorBands: inputStage.floor?.bands, frameSeconds: frameSeconds)
    }

    /// The poolings have no state and are shared between stages; the running norm and the floor tracker are fresh.
    private static func inputStage(_ config: MaskNetConfig, bands: ERBBands?, floorBands: ERBBands?,
                                   frameSeconds: Double) -> InputStage {
        let runningNorm = config.inputNorm == .running
            ? RunningNormalizer(bins: config.powerWidth, frameSeconds: frameSeconds) : nil
        let window = config.floorWindowSeconds
        let floor = floorBands.map {
            ($0, NoiseFloorTracker(bands: $0.bands, frameSeconds: frameSeconds, windowSeconds: window))
        }
        return InputStage(bins: config.bins, bands: bands, runningNorm: runningNorm, floor: floor)
    }

    /// What context frames outside an utterance read as: silence, or with the running input normalisation the
    /// normalised value of a steady bin (0).
    private var contextPadding: Float { config.inputNorm == .running ? 0 : MaskNet.silence }

    public var parameterCount: Int { store.count }

    /// Mask for `features` ([rows × bins] log-power). The returned matrix belongs to the network.
    ///
    /// An MLP whose normalisations are frame-local (LayerNorm, BatchNorm) treats every frame on its own after
    /// the context stacking, so it runs on the real frames only, packed together in batch order: one product per
    /// layer instead of one per utterance, no padding rows to clear, and the same dropout draws (they are taken
    /// for real rows in row order either way).
    ///
    /// The features go through the input stage first (`InputStage`): with input bands the real frames are pooled
    /// into bands, and with the running input normalisation each utterance of `layout` is normalised from its first
    /// real frame (a fresh state per utterance); padding frames are skipped and read as zeros.
    func forward(_ features: Matrix, layout: SequenceBatch, training: Bool) -> Matrix {
        forward(features, layout: layout, training: training, inputStaged: false)
    }

    /// `inputStaged`: the features have been through an input stage of the caller's already
    /// (`makeInputStage()`), whose state runs on across calls (the denoiser's overlapping windows), so that a window
    /// need not start an utterance: they are [rows × `config.inputWidth`].
    func forward(_ features: Matrix, layout: SequenceBatch, training: Bool, inputStaged: Bool) -> Matrix {
        let width = inputStaged ? config.inputWidth : config.bins
        precondition(features.cols == width, "MaskNet expects \(width) features per frame, got \(features.cols)")
        precondition(features.rows == layout.rows,
                     "MaskNet: features have \(features.rows) rows but the layout has \(layout.rows)")
        packedLayout = nil
        let features = inputStaged ? features : inputStage.transformBatch(features, layout: layout)
        switch config.kind {
        case .mlp where config.norm.isFrameLocal:
            stackContext(features, layout: layout, packed: true)
            var packed = SequenceBatch.single(frames: layout.realFrames)
            packed.parallelism = layout.parallelism
            let mask = runNetwork(stacked, layout: packed, training: training)
            // Without padding (one utterance, as in `Denoiser`) the packed rows are the caller's rows.
            if layout.realFrames == layout.rows { return mask }
            packedLayout = layout
            paddedMask.resize(rows: layout.rows, cols: config.bins)
            movePackedRows(from: mask, to: paddedMask, layout: layout, toPadded: true)
            if let logits = speechLogits {
                paddedSpeechLogits.resize(rows: layout.rows, cols: 1)
                movePackedRows(from: logits, to: paddedSpeechLogits, layout: layout, toPadded: true)
                speechLogits = paddedSpeechLogits
            }
            return paddedMask
        case .mlp:
            stackContext(features, layout: layout, packed: false)
            return runNetwork(stacked, layout: layout, training: training)
        case .cnn:
            return runNetwork(features, layout: layout, training: training)
        }
    }

    /// Index in `network.layers` of the mask's output projection (followed by its sigmoid): its input is the last
    /// hidden layer's activations, which the speech head reads too.
    var outputStart: Int { network.layers.count - 2 }

    /// The network's forward; with the head, also its logits from the last hidden activations into `speechLogits`.
    private func runNetwork(_ input: Matrix, layout: SequenceBatch, training: Bool) -> Matrix {
        guard let speechHead else {
            speechLogits = nil
            return network.forward(input, layout: layout, training: training)
        }
        var h = input
        for (i, layer) in network.layers.enumerated() {
            if i == outputStart { speechLogits = speechHead.forward(h, layout: layout, training: training) }
            h = layer.forward(h, layout: layout, training: training)
        }
        return h
    }

    /// Accumulates parameter gradients for the last forward, given dLoss/dMask and, for a network with the speech
    /// head, dLoss/dLogits [rows × 1] (nil: the head gets no gradient).
    ///
    /// Nothing needs the gradient with respect to the features, so the first projection (Linear or Conv1d)
    /// folds the input normalisation's backward into its own and skips its input gradient: for the default MLP
    /// that product is a fifth of the whole step (see `InputNormFolding`). `referenceBackward` is the plain path.
    func backward(_ gradMask: Matrix, gradSpeechLogits: Matrix? = nil) {
        var h = hiddenGradient(gradMask, gradSpeechLogits: gradSpeechLogits)
        let layers = network.layers
        guard outputStart >= 2, let norm = layers[0] as? FoldableNormalization,
              let projection = layers[1] as? InputNormFolding
        else {
            for layer in layers[..<outputStart].reversed() { h = layer.backward(h) }
            return
        }
        for layer in layers[2..<outputStart].reversed() { h = layer.backward(h) }
        projection.backwardFoldingInputNorm(h, norm: norm)
    }

    /// Accumulates the speech head's parameter gradients alone, given dLoss/dLogits [rows × 1] for the last forward:
    /// nothing flows back into the network below it.
    func backwardSpeechHead(_ gradSpeechLogits: Matrix) {
        guard let speechHead else { preconditionFailure("MaskNet.backwardSpeechHead: the network has no speech head") }
        _ = speechHead.backward(speechGradient(gradSpeechLogits))
    }

    /// Layer-by-layer backward through the whole network, down to the (unused) feature gradient: the
    /// specification `backward` (with its folded input norm) and the packed MLP path are held to
    /// (MaskNetTests.testBackwardMatchesLayerByLayerReference and testPackedMLPMatchesItsLayersOnThePaddedBatch).
    func referenceBackward(_ gradMask: Matrix, gradSpeechLogits: Matrix? = nil) {
        var h = hiddenGradient(gradMask, gradSpeechLogits: gradSpeechLogits)
        for layer in network.layers[..<outputStart].reversed() { h = layer.backward(h) }
    }

    /// dLoss/d(last hidden activations): back through the mask's output, plus the speech head's share.
    private func hiddenGradient(_ gradMask: Matrix, gradSpeechLogits: Matrix?) -> Matrix {
        var h = networkGradient(gradMask)
        for layer in network.layers[outputStart...].reversed() { h = layer.backward(h) }
        if let speechHead, let gradSpeechLogits {
            let fromHead = speechHead.backward(speechGradient(gradSpeechLogits))
            RowKernel.accumulate(fromHead.data, into: h.data, h.rows * h.cols)
        }
        return h
    }

    /// dLoss/dLogits on the rows the network ran on, like `networkGradient`.
    private func speechGradient(_ gradLogits: Matrix) -> Matrix {
        guard let layout = packedLayout else { return gradLogits }
        precondition(gradLogits.rows == layout.rows && gradLogits.cols == 1,
                     "MaskNet.backward: speech gradient is \(gradLogits.rows)×\(gradLogits.cols), "
                         + "expected \(layout.rows)×1")
        packedSpeechGradient.resize(rows: layout.realFrames, cols: 1)
        movePackedRows(from: gradLogits, to: packedSpeechGradient, layout: layout, toPadded: false)
        return packedSpeechGradient
    }

    /// dLoss/dMask on the rows the network ran on: `gradMask` itself, or its real rows packed.
    private func networkGradient(_ gradMask: Matrix) -> Matrix {
        guard let layout = packedLayout else { return gradMask }
        precondition(gradMask.rows == layout.rows && gradMask.cols == config.bins,
                     "MaskNet.backward: gradient is \(gradMask.rows)×\(gradMask.cols), "
                         + "expected \(layout.rows)×\(config.bins)")
        packedGradient.resize(rows: layout.realFrames, cols: config.bins)
        movePackedRows(from: gradMask, to: packedGradient, layout: layout, toPadded: false)
        return packedGradient
    }

    /// Copies the real rows between a padded matrix laid out as `layout` and a packed one (real rows only, in
    /// batch order), in the direction `toPadded` says; padding rows of a padded destination become zero.
    private func movePackedRows(from source: Matrix, to destination: Matrix, layout: SequenceBatch, toPadded: Bool) {
        let n = source.cols
        layout.forEachRealRowPiece(chunks: layout.parallelism.chunks(elements: layout.realFrames * n)) { _, rows in
            let packed = MaskNet.packedRow(of: rows.lowerBound, layout: layout)
            if toPadded {
                destination.row(rows.lowerBound).update(from: source.row(packed), count: rows.count * n)
            } else {
                destination.row(packed).update(from: source.row(rows.lowerBound), count: rows.count * n)
            }
        }
        if toPadded { destination.zeroPaddingRows(of: layout) }
    }

    /// Index among the real rows, in batch order, of the real row `row` of a padded batch.
    private static func packedRow(of row: Int, layout: SequenceBatch) -> Int {
        let b = row / layout.frames
        return layout.lengths[..<b].reduce(0, +) + row - b * layout.frames
    }

    /// Row (b, t) of `stacked` = features of frames t−c … t+c of utterance b, `contextPadding` outside its real
    /// frames.
    /// `packed`: only real frames, one after another in batch order; otherwise padded like `layout` (padding rows
    /// zero).
    private func stackContext(_ features: Matrix, layout: SequenceBatch, packed: Bool) {
        // `bins` here are the network's input values per frame: bins, or bands with input bands.
        let c = config.context, bins = config.inputWidth, width = (2 * c + 1) * bins
        stacked.resize(rows: packed ? layout.realFrames : layout.rows, cols: width)
        let src = features.data, stacked = self.stacked, padding = contextPadding
        layout.forEachRealRowPiece(chunks: layout.parallelism.chunks(elements: layout.realFrames * width)) { _, rows in
            let b = rows.lowerBound / layout.frames, base = b * layout.frames, length = layout.lengths[b]
            var out = stacked.row(packed ? MaskNet.packedRow(of: rows.lowerBound, layout: layout) : rows.lowerBound)
            for t in (rows.lowerBound - base) ..< (rows.upperBound - base) {
                for k in -c...c {
                    let slot = out + (k + c) * bins
                    let s = t + k
                    if s >= 0 && s < length {
                        slot.update(from: src + (base + s) * bins, count: bins)
                    } else {
                        slot.update(repeating: padding, count: bins)
                    }
                }
                out += width
            }
        }
        // Padding rows: ignored downstream, zero by convention.
        if !packed { stacked.zeroPaddingRows(of: layout) }
    }
}
