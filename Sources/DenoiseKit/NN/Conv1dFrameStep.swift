/// A causal `Conv1d` (or one of kernel 1) run frame by frame:
///
///     y[t, o] = b[o] + Σ_{c, j} W[o, c, j] · x[t + (j − (k−1))·d, c]
///
/// A ring keeps the last (k−1)·d input frames [span × Cin], so new frames cost their own work only: each frame's
/// k taps are gathered, from the frames stepped with it or from the ring, into one row laid out like a row of W
/// ([Cin × k], tap fastest), and one product with W as stored ([Cout × Cin·k]) adds them all onto the bias: a
/// matrix-vector product for one frame, a matrix product for several. Frames before the first (or the last
/// `reset`) are zeros, as outside an utterance in `Conv1d.forward`.
final class Conv1dFrameStep: FrameStep {
    let outputWidth: Int
    private let conv: Conv1d
    /// Frames the ring holds: the (k−1)·d before the next one (at least one slot, for kernel 1).
    private let span: Int
    private let ring: Matrix
    /// Slot the next frame goes to in `ring`; the frame p before it is at `position − p` (mod `span`).
    private var position = 0
    /// The taps of the stepped frames, [frames × Cin·k].
    private let gathered: Matrix
    private let output: Matrix

    init(_ conv: Conv1d) {
        precondition(conv.causal || conv.kernelSize == 1, "Conv1dFrameStep: a centred convolution sees later frames")
        self.conv = conv
        outputWidth = conv.outChannels
        span = max((conv.kernelSize - 1) * conv.dilation, 1)
        ring = Matrix(rows: span, cols: conv.inChannels)
        gathered = Matrix(rows: 1, cols: conv.inChannels * conv.kernelSize)
        output = Matrix(rows: 1, cols: conv.outChannels)
    }

    func step(_ x: UnsafePointer<Float>, frames: Int) -> UnsafePointer<Float> {
        let cin = conv.inChannels, cout = conv.outChannels, k = conv.kernelSize, d = conv.dilation
        output.resize(rows: frames, cols: cout)
        let y = output.data
        for t in 0..<frames { (y + t * cout).update(from: conv.bias.values, count: cout) }
        if k == 1 {
            product(x, width: cin, frames: frames, into: y)
            return UnsafePointer(y)
        }
        gathered.resize(rows: frames, cols: cin * k)
        for t in 0..<frames {
            let taps = gathered.row(t)
            for j in 0..<k {
                // Tap j reads the frame (k − 1 − j)·d before frame t: one stepped with it, or one in the ring.
                let back = (k - 1 - j) * d
                let source = back <= t
                    ? x + (t - back) * cin
                    : UnsafePointer(ring.row((position - (back - t) + span) % span))
                for c in 0..<cin { taps[c * k + j] = source[c] }
            }
        }
        product(gathered.data, width: cin * k, frames: frames, into: y)
        // The ring keeps the last `span` frames seen, for the next step's early taps.
        for t in max(0, frames - span)..<frames {
            ring.row(position).update(from: x + t * cin, count: cin)
            position = (position + 1) % span
        }
        return UnsafePointer(y)
    }

    /// y[frames × Cout] += rows[frames × width] · Wᵀ.
    private func product(_ rows: UnsafePointer<Float>, width: Int, frames: Int, into y: UnsafeMutablePointer<Float>) {
        let cout = conv.outChannels, w = conv.weight.values
        if frames == 1 {
            BLAS.gemv(m: cout, n: width, a: w, lda: width, x: rows, beta: 1, y: y)
        } else {
            BLAS.gemm(transB: true, m: frames, n: cout, k: width, a: rows, lda: width, b: w, ldb: width, beta: 1,
                      c: y, ldc: cout)
        }
    }

    func reset() {
        ring.zero()
        position = 0
    }
}
