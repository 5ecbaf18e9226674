import Foundation

/// A layer at inference run one frame at a time, carrying between frames whatever the layer needs from earlier
/// ones: the streaming form of a network whose output for a frame depends only on that frame and earlier ones.
///
/// `step` reads the next `frames` frames [frames × inputWidth] and returns their outputs [frames × outputWidth],
/// as that many one-frame steps would give them (to float rounding); several at once turn each layer's
/// matrix-vector products into one matrix product. The output belongs to the step and stays valid until its next
/// call (a layer that changes nothing may return its input). Buffers are allocated at creation for one frame and
/// grow to the most frames a step is given, never shrinking: a one-frame step allocates nothing. `reset` forgets
/// the earlier frames (the next frame is a stream's first; frames before it read as zeros, as outside an
/// utterance in `forward`). Weights are read from the store at each step, so a step follows them as they change.
protocol FrameStep: AnyObject {
    var outputWidth: Int { get }
    func step(_ x: UnsafePointer<Float>, frames: Int) -> UnsafePointer<Float>
    func reset()
}

extension FrameStep {
    /// One frame [inputWidth] in, its output [outputWidth] out.
    func step(_ x: UnsafePointer<Float>) -> UnsafePointer<Float> { step(x, frames: 1) }
}

enum FrameSteps {
    /// The frame-by-frame form of `layer` fed frames of `inputWidth` values, or a reason why it has none: a layer
    /// that looks ahead (a centred convolution wider than one frame) or whose statistics span frames
    /// (GroupNorm, InstanceNorm).
    static func make(_ layer: Layer, inputWidth: Int) -> Result<FrameStep, StreamingError> {
        switch layer {
        case let conv as Conv1d:
            guard conv.causal || conv.kernelSize == 1 else {
                return .failure(.notStreamable("a centred convolution of kernel \(conv.kernelSize) sees later frames"))
            }
            return .success(Conv1dFrameStep(conv))
        case let norm as LayerNorm:
            return .success(RowStep(width: norm.features) { norm.inferRow($0, into: $1) })
        case let norm as BatchNorm:
            return .success(RowStep(width: norm.channels) { norm.inferRow($0, into: $1) })
        case let affine as ChannelAffine:
            return .success(RowStep(width: affine.channels) { affine.inferRow($0, into: $1) })
        case is ReLU:
            return .success(RowStep(width: inputWidth) { x, y in for i in 0..<inputWidth { y[i] = max(x[i], 0) } })
        case is Sigmoid:
            return .success(RowStep(width: inputWidth) { Sigmoid.apply($0, $1, inputWidth) })
        case is Tanh:
            return .success(RowStep(width: inputWidth) { x, y in for i in 0..<inputWidth { y[i] = tanh(x[i]) } })
        case is Dropout:
            return .success(IdentityStep(width: inputWidth))
        case let residual as Residual:
            return make(residual.body, inputWidth: inputWidth).map { ResidualStep(body: $0, width: inputWidth) }
        case let sequential as Sequential:
            return make(sequential.layers[...], inputWidth: inputWidth)
        default:
            return .failure(.notStreamable("\(type(of: layer)) has no frame-by-frame form"))
        }
    }

    /// The frame-by-frame form of `layers` run in order.
    static func make(_ layers: ArraySlice<Layer>, inputWidth: Int) -> Result<FrameStep, StreamingError> {
        var steps: [FrameStep] = []
        var width = inputWidth
        for layer in layers {
            switch make(layer, inputWidth: width) {
            case .success(let step):
                steps.append(step)
                width = step.outputWidth
            case .failure(let error):
                return .failure(error)
            }
        }
        return steps.isEmpty ? .success(IdentityStep(width: inputWidth)) : .success(ChainStep(steps))
    }
}

/// Why a network cannot run frame by frame.
enum StreamingError: Error, CustomStringConvertible, Equatable {
    case notStreamable(String)

    var description: String {
        switch self {
        case .notStreamable(let reason): return "the network cannot run frame by frame: \(reason)"
        }
    }
}

/// A layer with no state across frames: y = f(x) for one row, written into the step's own buffer.
private final class RowStep: FrameStep {
    let outputWidth: Int
    private let output: Matrix
    private let body: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void

    init(width: Int, _ body: @escaping (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) {
        outputWidth = width
        output = Matrix(rows: 1, cols: width)
        self.body = body
    }

    /// Rows are as wide in as out: every stateless layer here keeps the width.
    func step(_ x: UnsafePointer<Float>, frames: Int) -> UnsafePointer<Float> {
        output.resize(rows: frames, cols: outputWidth)
        for t in 0..<frames { body(x + t * outputWidth, output.row(t)) }
        return UnsafePointer(output.data)
    }

    func reset() {}
}

/// Dropout at inference: the frame passes unchanged.
private final class IdentityStep: FrameStep {
    let outputWidth: Int
    init(width: Int) { outputWidth = width }
    func step(_ x: UnsafePointer<Float>, frames: Int) -> UnsafePointer<Float> { x }
    func reset() {}
}

/// y = x + body(x), one frame.
private final class ResidualStep: FrameStep {
    let outputWidth: Int
    private let body: FrameStep
    private let output: Matrix

    init(body: FrameStep, width: Int) {
        precondition(body.outputWidth == width, "Residual: the body maps \(width) features to \(body.outputWidth)")
        self.body = body
        outputWidth = width
        output = Matrix(rows: 1, cols: width)
    }

    func step(_ x: UnsafePointer<Float>, frames: Int) -> UnsafePointer<Float> {
        output.resize(rows: frames, cols: outputWidth)
        RowKernel.add(x, body.step(x, frames: frames), into: output.data, frames * outputWidth)
        return UnsafePointer(output.data)
    }

    func reset() { body.reset() }
}

/// Steps in order, each one's output the next one's input (no copies).
private final class ChainStep: FrameStep {
    private let steps: [FrameStep]
    let outputWidth: Int

    init(_ steps: [FrameStep]) {
        precondition(!steps.isEmpty, "a chain of frame steps needs at least one")
        self.steps = steps
        outputWidth = steps[steps.count - 1].outputWidth
    }

    func step(_ x: UnsafePointer<Float>, frames: Int) -> UnsafePointer<Float> {
        var h = x
        // By index: iterating the array of existentials allocated an iterator per call in debug builds.
        for i in 0..<steps.count { h = steps[i].step(h, frames: frames) }
        return h
    }

    /// By index too, as `step`: a reset may run where nothing may be allocated (a host's audio thread).
    func reset() { for i in 0..<steps.count { steps[i].reset() } }
}
