/// A causal `Conv1d` (or one of kernel 1) run one frame at a time:
///
///     y[t, o] = b[o] + Σ_{c, j} W[o, c, j] · x[t + (j − (k−1))·d, c]
///
/// A ring keeps the last (k−1)·d + 1 input frames [span × Cin], so a new frame costs one frame of work: its k
/// taps are gathered from the ring into one vector laid out like a row of W ([Cin × k], tap fastest), and one
/// matrix-vector product with W as stored ([Cout × Cin·k]) adds them all onto the bias. Frames before the first
/// (or the last `reset`) are zeros, as outside an utterance in `Conv1d.forward`.
final class Conv1dFrameStep: FrameStep {
    let outputWidth: Int
    private let conv: Conv1d
    /// Frames the ring holds: the current one and the (k−1)·d before it.
    private let span: Int
    private let ring: Matrix
    /// Slot of the next frame in `ring`.
    private var position = 0
    /// The taps of the current frame, [Cin × k].
    private let gathered: Matrix
    private let output: Matrix

    init(_ conv: Conv1d) {
        precondition(conv.causal || conv.kernelSize == 1, "Conv1dFrameStep: a centred convolution sees later frames")
        self.conv = conv
        outputWidth = conv.outChannels
        span = (conv.kernelSize - 1) * conv.dilation + 1
        ring = Matrix(rows: span, cols: conv.inChannels)
        gathered = Matrix(rows: 1, cols: conv.inChannels * conv.kernelSize)
        output = Matrix(rows: 1, cols: conv.outChannels)
    }

    func step(_ x: UnsafePointer<Float>) -> UnsafePointer<Float> {
        let cin = conv.inChannels, cout = conv.outChannels, k = conv.kernelSize, d = conv.dilation
        let y = output.data
        y.update(from: conv.bias.values, count: cout)
        if k == 1 {
            BLAS.gemv(m: cout, n: cin, a: conv.weight.values, lda: cin, x: x, beta: 1, y: y)
            return UnsafePointer(y)
        }
        ring.row(position).update(from: x, count: cin)
        let taps = gathered.data
        for j in 0..<k {
            // Tap j reads the frame (k − 1 − j)·d before the current one.
            let slot = (position - (k - 1 - j) * d + span) % span
            let frame = ring.row(slot)
            for c in 0..<cin { taps[c * k + j] = frame[c] }
        }
        BLAS.gemv(m: cout, n: cin * k, a: conv.weight.values, lda: cin * k, x: taps, beta: 1, y: y)
        position = (position + 1) % span
        return UnsafePointer(y)
    }

    func reset() {
        ring.zero()
        position = 0
    }
}
