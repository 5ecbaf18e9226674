/// Inverted dropout (Srivastava et al., 2014): in training each element is kept with probability 1 − p
/// and scaled by 1/(1 − p), so the expected output equals the input and inference is the identity.
///
/// input [rows × n] → output [rows × n], any n, channels last. Random numbers are drawn only for real
/// rows, in row order, so an utterance placed first in a batch gets the same mask whatever follows it.
/// `rng` is public so that a checkpoint can save and restore it.
public final class Dropout: Layer {
    public let p: Float
    public var rng: RandomGenerator

    private let output = Matrix(rows: 0, cols: 0)
    private let inputGradient = Matrix(rows: 0, cols: 0)
    // Cached by forward for backward: the mask (0 or 1/(1 − p) per element; unused when the last
    // forward was the identity) and the layout.
    private let mask = Matrix(rows: 0, cols: 0)
    private var masked = false
    private var layout = SequenceBatch.flat(rows: 0)

    public init(p: Float, seed: UInt64) {
        precondition(p >= 0 && p < 1, "Dropout probability must lie in [0, 1), got \(p)")
        self.p = p
        rng = RandomGenerator(seed: seed)
    }

    public func forward(_ input: Matrix, layout: SequenceBatch, training: Bool) -> Matrix {
        checkLayerInput(input, layout: layout, features: nil, layer: "Dropout")
        self.layout = layout
        masked = training && p > 0
        let n = input.cols
        output.resize(rows: input.rows, cols: n)
        if masked {
            mask.resize(rows: input.rows, cols: n)
            let p = self.p, scale = 1 / (1 - self.p)
            var g = rng  // a local copy keeps the hot loop free of property access
            layout.forEachRealRowRange { range in
                let x = input.row(range.lowerBound), y = output.row(range.lowerBound)
                let m = mask.row(range.lowerBound)
                for i in 0..<(range.count * n) {
                    // uniform() is in [0, 1), so P(u ≥ p) = 1 − p.
                    m[i] = g.uniform() >= p ? scale : 0
                    y[i] = x[i] * m[i]
                }
            }
            rng = g
        } else {
            layout.forEachRealRowRange { range in
                output.row(range.lowerBound).update(from: input.row(range.lowerBound), count: range.count * n)
            }
        }
        output.zeroPaddingRows(of: layout)
        return output
    }

    public func backward(_ gradOutput: Matrix) -> Matrix {
        precondition(gradOutput.rows == output.rows && gradOutput.cols == output.cols,
                     "Dropout.backward: gradient is \(gradOutput.rows)×\(gradOutput.cols), "
                         + "expected \(output.rows)×\(output.cols)")
        let n = output.cols
        inputGradient.resize(rows: output.rows, cols: n)
        layout.forEachRealRowRange { range in
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
