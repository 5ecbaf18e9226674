/// Inverted dropout (Srivastava et al., 2014): in training each element is kept with probability 1 − p
/// and scaled by 1/(1 − p), so the expected output equals the input and inference is the identity.
///
/// input [rows × n] → output [rows × n], any n, channels last. Random numbers are drawn only for real
/// rows, in row order, so an utterance placed first in a batch gets the same mask whatever follows it.
/// `rng` is public so that a checkpoint can save and restore it.
final class Dropout: Layer {
    let p: Float
    var rng: RandomGenerator

    private let output = Matrix(rows: 0, cols: 0)
    private let inputGradient = Matrix(rows: 0, cols: 0)
    // Cached by forward for backward: the mask (0 or 1/(1 − p) per element; unused when the last
    // forward was the identity) and the layout.
    private let mask = Matrix(rows: 0, cols: 0)
    private var masked = false
    private var layout = SequenceBatch.single(frames: 0)

    init(p: Float, seed: UInt64) {
        precondition(p >= 0 && p < 1, "Dropout probability must lie in [0, 1), got \(p)")
        self.p = p
        rng = RandomGenerator(seed: seed)
    }

    func forward(_ input: Matrix, layout: SequenceBatch, training: Bool) -> Matrix {
        checkLayerInput(input, layout: layout, features: nil, layer: "Dropout")
        self.layout = layout
        masked = training && p > 0
        let n = input.cols
        output.resize(rows: input.rows, cols: n)
        if masked {
            mask.resize(rows: input.rows, cols: n)
            // uniform() is u/2²⁴ for u the top 24 bits of next(), and P(u/2²⁴ ≥ p) = 1 − p. Comparing u with
            // ⌈p·2²⁴⌉ instead gives the same draws and the same mask without the conversion to Float.
            let threshold = UInt64((Double(p) * 16_777_216).rounded(.up)), scale = 1 / (1 - self.p)
            var g = rng  // a local copy (outside any closure) keeps the generator in registers
            for b in 0..<layout.batch where layout.lengths[b] > 0 {
                let first = b * layout.frames
                let x = input.row(first), y = output.row(first), m = mask.row(first)
                for i in 0..<(layout.lengths[b] * n) {
                    let keep: Float = g.next() >> 40 >= threshold ? scale : 0
                    m[i] = keep
                    y[i] = x[i] * keep
                }
            }
            rng = g
        } else if layout.realFrames == input.rows {
            return input  // the identity, with no padding rows to clear: nothing to copy
        } else {
            layout.forEachRealRowPiece(chunks: layout.parallelism.chunks(elements: layout.realFrames * n)) { _, range in
                output.row(range.lowerBound).update(from: input.row(range.lowerBound), count: range.count * n)
            }
        }
        output.zeroPaddingRows(of: layout)
        return output
    }

    func backward(_ gradOutput: Matrix) -> Matrix {
        precondition(gradOutput.rows == output.rows && gradOutput.cols == output.cols,
                     "Dropout.backward: gradient is \(gradOutput.rows)×\(gradOutput.cols), "
                         + "expected \(output.rows)×\(output.cols)")
        let n = output.cols
        inputGradient.resize(rows: output.rows, cols: n)
        layout.forEachRealRowPiece(chunks: layout.parallelism.chunks(elements: layout.realFrames * n)) { _, range in
            let dy = gradOutput.row(range.lowerBound), dx = inputGradient.row(range.lowerBound)
            if masked {
                let m = mask.row(range.lowerBound)
                for i in 0..<(range.count * n) { dx[i] = dy[i] * m[i] }
            } else {
                dx.update(from: dy, count: range.count * n)
            }
        }
        inputGradient.zeroPaddingRows(of: layout)
        return inputGradient
    }
}
