/// A causal MaskNet run frame by frame: log-power features of the next frames in, their masks out.
///
/// Each convolution keeps a ring of the last (k−1)·d frames it was fed and normalisations, activations and skip
/// connections work on each frame alone (`FrameStep`), so a frame costs one frame of work per layer instead of the
/// network's whole receptive field. Stepping through an utterance from a fresh stream (or after `reset`), in steps
/// of any number of frames, gives the masks `MaskNet.forward` gives for the whole utterance, to float rounding.
/// Everything a one-frame step needs is allocated here: it allocates nothing. Steps of several frames (a file's
/// frames as they are ready) make each layer's products matrix products; their buffers grow to the most frames
/// stepped at once.
///
/// Only networks whose mask for a frame depends on no later frame stream: a causal CNN (per-frame normalisation
/// is part of being causal, see `MaskNetConfig.causal`). The stream shares the network's weights.
///
/// The stream owns an input stage (`InputStage`: input bands, then the running input normalisation, then the noise
/// floor, each if the model has it) for its utterance and feeds it each stepped frame once, in order, as
/// `MaskNet.forward` does for a whole utterance.
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
    /// Bands, the running norm and the floor, for the stream's utterance.
    private let inputStage: InputStage
    /// The stepped frames' network input [frames × inputWidth], from the input stage (nil when the stage changes
    /// nothing: the features are the input).
    private let stagedFrames: Matrix?
    /// The speech head's logits for the frames of the last step [frames × 1] (zeros without the head).
    private let logits = Matrix(rows: 1, cols: 1)

    /// The speech head's logit for the last frame stepped (0 without the head).
    var speechLogit: Float { logits.data[logits.rows - 1] }

    /// The speech head's logits for the frames of the last step, in order (zeros without the head); valid until
    /// the next step.
    var speechLogits: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: logits.data, count: logits.rows) }

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
        stagedFrames = inputStage.isIdentity ? nil : Matrix(rows: 1, cols: inputStage.inputWidth)
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
                     "MaskNetStream.step: \(features.count) features and \(mask.count) mask values "
                         + "for \(config.bins) bins")
        guard let x = features.baseAddress, let y = mask.baseAddress else { return }
        step(x, mask: y)
    }

    /// Pointer form, for the denoiser's inner loop: the masks [frames × bins] of the next `frames` frames, from
    /// their features [frames × bins].
    func step(_ features: UnsafePointer<Float>, frames: Int = 1, mask: UnsafeMutablePointer<Float>) {
        let bins = config.bins
        var input = features
        if let stagedFrames {
            stagedFrames.resize(rows: frames, cols: inputStage.inputWidth)
            for t in 0..<frames { inputStage.transformFrame(features + t * bins, into: stagedFrames.row(t)) }
            input = UnsafePointer(stagedFrames.data)
        }
        let hidden = trunk.step(input, frames: frames)
        logits.resize(rows: frames, cols: 1)
        guard let output, let speechHead else {
            logits.zero()
            mask.update(from: hidden, count: frames * bins)
            return
        }
        // The head: hidden [frames × width] · weight [width] + bias, one logit per frame.
        logits.fill(speechHead.bias.values[0])
        BLAS.gemv(m: frames, n: speechHead.inFeatures, a: hidden, lda: speechHead.inFeatures,
                  x: speechHead.weight.values, beta: 1, y: logits.data)
        mask.update(from: output.step(hidden, frames: frames), count: frames * bins)
    }

    /// Forgets every frame so far: the next one starts a new utterance.
    func reset() {
        trunk.reset()
        output?.reset()
        inputStage.reset()
        logits.resize(rows: 1, cols: 1)
        logits.zero()
    }
}
