/// 1-D convolution over time (the rows of each utterance), "same" padding, optional dilation.
///
///     y[t, o] = b[o] + Σ_{c, j} W[o, c, j] · x[t + (j − (k−1)/2)·d, c]
///
/// (cross-correlation, as PyTorch's Conv1d with padding d·(k−1)/2). Frames outside the utterance's
/// real frames count as zeros, so neither padding rows nor neighbouring utterances leak in.
///
/// input [rows × Cin], weight [Cout × Cin × k] (PyTorch layout), bias [Cout], output [rows × Cout];
/// channels last, rows = utterances × padded frames. Initialised like PyTorch: W and b uniform in
/// ±1/√(Cin·k).
///
/// Implementation: im2col of the whole batch, cols [rows × (k·Cin)] with column j·Cin + c holding tap j
/// of channel c (so each tap is one contiguous copy of an input row), then one sgemm with the weights
/// rearranged to [Cout × (k·Cin)] in the same tap-major order.
public final class Conv1d: Layer {
    public let inChannels: Int
    public let outChannels: Int
    public let kernelSize: Int
    public let dilation: Int
    public let weight: Parameter
    public let bias: Parameter

    private let output = Matrix(rows: 0, cols: 0)
    private let inputGradient = Matrix(rows: 0, cols: 0)
    // Cached by forward for backward: the im2col matrix (zero rows for padding frames), the weights in
    // tap-major order as used by that forward, and the layout.
    private let columns = Matrix(rows: 0, cols: 0)
    private let tapMajorWeight: Matrix
    private var layout = SequenceBatch.flat(rows: 0)
    private var hasForward = false
    // Scratch for backward.
    private let columnGradient = Matrix(rows: 0, cols: 0)
    private let tapMajorWeightGradient: Matrix

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, dilation: Int = 1,
                store: ParameterStore, name: String, rng: inout RandomGenerator) {
        precondition(inChannels > 0 && outChannels > 0,
                     "Conv1d '\(name)' needs positive channel counts, got \(inChannels) → \(outChannels)")
        precondition(kernelSize > 0 && kernelSize % 2 == 1,
                     "Conv1d '\(name)' needs an odd kernel size for 'same' padding, got \(kernelSize)")
        precondition(dilation > 0, "Conv1d '\(name)' needs a positive dilation, got \(dilation)")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.dilation = dilation
        let bound = 1 / Float(inChannels * kernelSize).squareRoot()
        weight = store.add("\(name).weight", shape: [outChannels, inChannels, kernelSize], decays: true) { _ in
            rng.uniform(-bound, bound)
        }
        bias = store.add("\(name).bias", shape: [outChannels], decays: false) { _ in rng.uniform(-bound, bound) }
        tapMajorWeight = Matrix(rows: outChannels, cols: kernelSize * inChannels)
        tapMajorWeightGradient = Matrix(rows: outChannels, cols: kernelSize * inChannels)
    }

    /// Row offset of tap j relative to the output frame.
    @inline(__always) private func offset(ofTap j: Int) -> Int { (j - (kernelSize - 1) / 2) * dilation }

    public func forward(_ input: Matrix, layout: SequenceBatch, training: Bool) -> Matrix {
        checkLayerInput(input, layout: layout, features: inChannels, layer: "Conv1d")
        self.layout = layout
        hasForward = true
        let k = kernelSize, cin = inChannels, cout = outChannels, width = k * cin
        let rows = input.rows

        // W[o, c, j] → tapMajor[o, j·Cin + c]; a few thousand values, negligible beside the product.
        let w = weight.value, wt = tapMajorWeight.data
        for o in 0..<cout {
            for c in 0..<cin {
                for j in 0..<k { wt[o * width + j * cin + c] = w[(o * cin + c) * k + j] }
            }
        }

        // im2col: cols[t, j·Cin ..< (j+1)·Cin] = x[t + offset(j)] when that frame is real, zeros otherwise;
        // rows of padding frames stay all zero so they contribute nothing to dW in backward.
        columns.resize(rows: rows, cols: width)
        columns.zero()
        let frames = layout.frames
        for b in 0..<layout.batch {
            let base = b * frames, length = layout.lengths[b]
            for t in 0..<length {
                let dst = columns.row(base + t)
                for j in 0..<k {
                    let s = t + offset(ofTap: j)
                    if s >= 0 && s < length { (dst + j * cin).update(from: input.row(base + s), count: cin) }
                }
            }
        }

        // y = cols · tapMajorᵀ, then the bias on real rows.
        output.resize(rows: rows, cols: cout)
        BLAS.gemm(transB: true, m: rows, n: cout, k: width, a: columns.data, lda: width,
                  b: tapMajorWeight.data, ldb: width, c: output.data, ldc: cout)
        let bias = self.bias.value
        layout.forEachRealRowRange { range in
            for r in range {
                let y = output.row(r)
                for o in 0..<cout { y[o] += bias[o] }
            }
        }
        output.zeroPaddingRows(of: layout)
        return output
    }

    public func backward(_ gradOutput: Matrix) -> Matrix {
        precondition(hasForward, "Conv1d.backward called before forward")
        let k = kernelSize, cin = inChannels, cout = outChannels, width = k * cin
        let rows = columns.rows
        precondition(gradOutput.rows == rows && gradOutput.cols == cout,
                     "Conv1d.backward: gradient is \(gradOutput.rows)×\(gradOutput.cols), expected \(rows)×\(cout)")
        let dy = gradOutput.data

        // dW (tap-major) = dyᵀ · cols. Padding rows of cols are zero, so padding rows of dy (which may
        // hold anything finite) add nothing.
        BLAS.gemm(transA: true, m: cout, n: width, k: rows, a: dy, lda: cout, b: columns.data, ldb: width,
                  c: tapMajorWeightGradient.data, ldc: width)
        let dW = weight.gradient, dWt = tapMajorWeightGradient.data
        for o in 0..<cout {
            for c in 0..<cin {
                for j in 0..<k { dW[(o * cin + c) * k + j] += dWt[o * width + j * cin + c] }
            }
        }
        let db = bias.gradient
        layout.forEachRealRowRange { range in
            for r in range {
                let g = dy + r * cout
                for o in 0..<cout { db[o] += g[o] }
            }
        }

        // dcols = dy · tapMajor, then col2im: each real output frame sends tap j's slice back to the
        // real input frame it came from.
        columnGradient.resize(rows: rows, cols: width)
        BLAS.gemm(m: rows, n: width, k: cout, a: dy, lda: cout, b: tapMajorWeight.data, ldb: width,
                  c: columnGradient.data, ldc: width)
        inputGradient.resize(rows: rows, cols: cin)
        inputGradient.zero()
        let frames = layout.frames
        for b in 0..<layout.batch {
            let base = b * frames, length = layout.lengths[b]
            for t in 0..<length {
                let src = columnGradient.row(base + t)
                for j in 0..<k {
                    let s = t + offset(ofTap: j)
                    guard s >= 0 && s < length else { continue }
                    let dst = inputGradient.row(base + s), g = src + j * cin
                    for c in 0..<cin { dst[c] += g[c] }
                }
            }
        }
        return inputGradient
    }
}
