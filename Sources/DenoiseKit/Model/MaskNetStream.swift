/// A causal MaskNet run one frame at a time: one frame of log-power features in, that frame's mask out.
///
/// Each convolution keeps a ring of the last (k−1)·d frames it was fed and normalisations, activations and skip
/// connections work on the frame alone (`FrameStep`), so a frame costs one frame of work per layer instead of the
/// network's whole receptive field. Stepping through an utterance from a fresh stream (or after `reset`) gives the
/// masks `MaskNet.forward` gives for the whole utterance, to float rounding. Everything is allocated here:
/// `step` allocates nothing.
///
/// Only networks whose mask for a frame depends on no later frame stream: a causal CNN (per-frame normalisation
/// is part of being causal, see `MaskNetConfig.causal`). The stream shares the network's weights.
///
/// The stream owns an input stage (`InputStage`: input bands, then the running input normalisation, each if the
/// model has it) for its utterance and feeds it each stepped frame once, in order, as `MaskNet.forward` does for a
/// whole utterance.
///
/// With the speech head, each step also gives the frame's speech logit (`speechLogit`), from the same last hidden
/// activations `MaskNet.forward` gives the head.
final class MaskNetStream {
    let config: MaskNetConfig
    /// Up to the last hidden activations; the whole network without the speech head.
    private let trunk: FrameStep
    /// The mask's output projection and sigmoid (nil without the head: `trunk` makes the mask).
    private let output: FrameStep?
    private let speechHead: Linear?
    /// Bands, then the running norm, for the stream's utterance.
    private let inputStage: InputStage
    /// The stepped frame's network input [1 × inputWidth], from the input stage (nil when the stage changes
    /// nothing: the features are the input).
    private let stagedFrame: Matrix?
    /// The speech head's logit for the last frame stepped (0 without the head).
    private(set) var speechLogit: Float = 0

    /// True when `config` describes a network that runs frame by frame.
    static func canStream(_ config: MaskNetConfig) -> Bool {
        // Every input norm streams: per bin with fixed statistics, per frame, or causally (running).
        config.kind == .cnn && config.causal && config.norm.isFrameLocal
    }

    init(_ net: MaskNet) throws {
        guard MaskNetStream.canStream(net.config) else {
            throw StreamingError.notStreamable(
                net.config.kind == .mlp ? "an MLP's context reaches later frames" : "the CNN is not causal")
        }
        config = net.config
        speechHead = net.speechHead
        inputStage = net.makeInputStage()
        stagedFrame = inputStage.isIdentity ? nil : Matrix(rows: 1, cols: inputStage.inputWidth)
        let layers = net.network.layers
        if speechHead != nil {
            trunk = try FrameSteps.make(layers[..<net.outputStart], inputWidth: config.inputWidth).get()
            output = try FrameSteps.make(layers[net.outputStart...], inputWidth: trunk.outputWidth).get()
        } else {
            trunk = try FrameSteps.make(net.network, inputWidth: config.inputWidth).get()
            output = nil
        }
        let width = (output ?? trunk).outputWidth
        precondition(width == config.bins, "MaskNetStream: the network makes \(width) bins, not \(config.bins)")
    }

    /// The mask [bins] of the next frame, from its log-power features [bins].
    func step(_ features: UnsafeBufferPointer<Float>, mask: UnsafeMutableBufferPointer<Float>) {
        precondition(features.count == config.bins && mask.count == config.bins,
                     "MaskNetStream.step: \(features.count) features and \(mask.count) mask values for \(config.bins) bins")
        guard let x = features.baseAddress, let y = mask.baseAddress else { return }
        step(x, mask: y)
    }

    /// Pointer form, for the denoiser's inner loop: `bins` values each.
    func step(_ features: UnsafePointer<Float>, mask: UnsafeMutablePointer<Float>) {
        var input = features
        if let stagedFrame {
            inputStage.transformFrame(features, into: stagedFrame.data)
            input = UnsafePointer(stagedFrame.data)
        }
        let hidden = trunk.step(input)
        guard let output, let speechHead else {
            mask.update(from: hidden, count: config.bins)
            return
        }
        // The head: weight [1 × hidden] · h + bias.
        let w = speechHead.weight.values
        var logit = speechHead.bias.values[0]
        for i in 0..<speechHead.inFeatures { logit += w[i] * hidden[i] }
        speechLogit = logit
        mask.update(from: output.step(hidden), count: config.bins)
    }

    /// Forgets every frame so far: the next one starts a new utterance.
    func reset() {
        trunk.reset()
        output?.reset()
        inputStage.reset()
        speechLogit = 0
    }
}
