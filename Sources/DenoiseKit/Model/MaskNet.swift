/// The mask-estimating network: log-power frames in, a mask in (0, 1) per bin out.
///
/// Layout: features [rows × bins] (rows = utterances × padded frames, see `SequenceBatch`),
/// mask [rows × bins]. The MLP first stacks ±`context` frames of each utterance into one row
/// [rows × (2·context + 1)·bins]; frames outside an utterance's real frames read as silence.
public final class MaskNet {
    public let config: MaskNetConfig
    public let store = ParameterStore()
    public let network: Sequential
    /// Dropout layers in graph order (their generators are part of a training checkpoint).
    public let dropouts: [Dropout]
    /// BatchNorm layers by parameter-name prefix (their running statistics are saved with the model).
    public let batchNorms: [(name: String, layer: BatchNorm)]
    private let stacked = Matrix(rows: 0, cols: 0)

    /// Log-power of digital silence (ln 1e-10, as `Features.logPower`): what context frames
    /// outside an utterance read as.
    public static let silence: Float = -23.02585

    public init(config: MaskNetConfig, seed: UInt64 = 0) throws {
        try config.validate()
        self.config = config
        var rng = RandomGenerator(seed: seed)
        var layers: [Layer] = []
        var dropouts: [Dropout] = []
        var batchNorms: [(String, BatchNorm)] = []
        let store = self.store
        let width = config.hidden

        func norm(_ name: String) -> Layer {
            switch config.norm {
            case .layer: return LayerNorm(width, store: store, name: name)
            case .group: return GroupNorm(groups: config.groups, channels: width, store: store, name: name)
            case .instance: return InstanceNorm(width, store: store, name: name)
            case .batch:
                let layer = BatchNorm(width, store: store, name: name)
                batchNorms.append((name, layer))
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
            var features = (2 * config.context + 1) * config.bins
            layers.append(LayerNorm(features, store: store, name: "input_norm"))
            for i in 0..<config.hiddenLayers {
                layers.append(Linear(features, width, store: store, name: "hidden\(i).linear", rng: &rng))
                layers.append(norm("hidden\(i).norm"))
                layers.append(ReLU())
                dropout()
                features = width
            }
            layers.append(Linear(features, config.bins, store: store, name: "output.linear", rng: &rng))
        case .cnn:
            var channels = config.bins
            layers.append(LayerNorm(channels, store: store, name: "input_norm"))
            for (i, dilation) in config.dilations.enumerated() {
                layers.append(Conv1d(channels, width, kernelSize: config.kernelSize, dilation: dilation,
                                     store: store, name: "block\(i).conv", rng: &rng))
                layers.append(norm("block\(i).norm"))
                layers.append(ReLU())
                dropout()
                channels = width
            }
            layers.append(Conv1d(channels, config.bins, kernelSize: 1, store: store, name: "output.conv", rng: &rng))
        }
        layers.append(Sigmoid())
        self.network = Sequential(layers)
        self.dropouts = dropouts
        self.batchNorms = batchNorms
    }

    public var parameterCount: Int { store.count }

    /// Mask for `features` ([rows × bins] log-power). The returned matrix belongs to the network.
    public func forward(_ features: Matrix, layout: SequenceBatch, training: Bool) -> Matrix {
        precondition(features.cols == config.bins, "MaskNet expects \(config.bins) bins, got \(features.cols)")
        switch config.kind {
        case .mlp:
            stackContext(features, layout: layout)
            return network.forward(stacked, layout: layout, training: training)
        case .cnn:
            return network.forward(features, layout: layout, training: training)
        }
    }

    /// Accumulates parameter gradients for the last forward, given dLoss/dMask.
    ///
    /// Nothing needs the gradient with respect to the features, so the first projection (Linear or Conv1d)
    /// folds the input LayerNorm's backward into its own and skips its input gradient: for the default MLP that
    /// product is a fifth of the whole step (see `InputNormFolding`). `referenceBackward` is the plain path.
    public func backward(_ gradMask: Matrix) {
        let layers = network.layers
        guard layers.count > 2, let norm = layers[0] as? LayerNorm, let projection = layers[1] as? InputNormFolding
        else {
            referenceBackward(gradMask)
            return
        }
        var g = gradMask
        for layer in layers[2...].reversed() { g = layer.backward(g) }
        projection.backwardFoldingInputNorm(g, norm: norm)
    }

    /// Layer-by-layer backward through the whole network, down to the (unused) feature gradient.
    func referenceBackward(_ gradMask: Matrix) {
        _ = network.backward(gradMask)
    }

    /// Row (b, t) of `stacked` = features of frames t−c … t+c of utterance b, silence outside its real frames.
    private func stackContext(_ features: Matrix, layout: SequenceBatch) {
        let c = config.context, bins = config.bins, width = (2 * c + 1) * bins
        stacked.resize(rows: features.rows, cols: width)
        let src = features.data, dst = stacked.data
        for b in 0..<layout.batch {
            let base = b * layout.frames, length = layout.lengths[b]
            for t in 0..<layout.frames {
                let out = dst + (base + t) * width
                guard t < length else {
                    out.update(repeating: 0, count: width)  // padding rows: ignored downstream
                    continue
                }
                for k in -c...c {
                    let slot = out + (k + c) * bins
                    let s = t + k
                    if s >= 0 && s < length {
                        slot.update(from: src + (base + s) * bins, count: bins)
                    } else {
                        slot.update(repeating: MaskNet.silence, count: bins)
                    }
                }
            }
        }
    }
}
