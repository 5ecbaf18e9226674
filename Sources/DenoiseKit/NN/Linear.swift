/// Fully connected layer: y = x·Wᵀ + b, applied to every row.
///
/// input [rows × in], weight [out × in] (PyTorch layout), bias [out], output [rows × out]; channels last.
/// Initialised like PyTorch: W and b uniform in ±1/√in. Padded rows of the output and of the input
/// gradient are zero, and padded rows never reach the parameter gradients (whatever they contain).
final class Linear: Layer {
    let inFeatures: Int
    let outFeatures: Int
    let weight: Parameter
    let bias: Parameter

    private let output = Matrix(rows: 0, cols: 0)
    private let inputGradient = Matrix(rows: 0, cols: 0)
    // Cached by forward for backward: the input (a reference, not a copy: it belongs to the layer
    // below and stays unchanged until the next forward) and the layout.
    private var input: Matrix?
    private var layout = SequenceBatch.single(frames: 0)
    // Scratch for `backwardFoldingInputNorm`: G = dyᵀ·x̂ [out × in] and s = Σ dy [out].
    private let foldedGradient = Matrix(rows: 0, cols: 0)
    private let outputGradientSum = Matrix(rows: 0, cols: 0)

    init(_ inFeatures: Int, _ outFeatures: Int, store: ParameterStore, name: String,
                rng: inout RandomGenerator) {
        precondition(inFeatures > 0 && outFeatures > 0,
                     "Linear '\(name)' needs positive sizes, got \(inFeatures) → \(outFeatures)")
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        let bound = 1 / Float(inFeatures).squareRoot()
        weight = store.add("\(name).weight", shape: [outFeatures, inFeatures], decays: true) { _ in
            rng.uniform(-bound, bound)
        }
        bias = store.add("\(name).bias", shape: [outFeatures], decays: false) { _ in rng.uniform(-bound, bound) }
    }

    func forward(_ input: Matrix, layout: SequenceBatch, training: Bool) -> Matrix {
        checkLayerInput(input, layout: layout, features: inFeatures, layer: "Linear")
        self.input = input
        self.layout = layout
        let nIn = inFeatures, nOut = outFeatures
        output.resize(rows: input.rows, cols: nOut)
        // Per utterance, real rows only (padding is often a quarter of a batch): the bias is written
        // first and the product accumulated onto it (beta 1), one pass over the output instead of two.
        let b = bias.values, w = weight.values
        layout.forEachRealRowPiece(chunks: layout.parallelism.chunks(elements: layout.realFrames * nOut)) { _, range in
            for r in range { output.row(r).update(from: b, count: nOut) }
        }
        layout.forEachRealRowRange { range in
            let y = output.row(range.lowerBound)
            BLAS.gemm(transB: true, m: range.count, n: nOut, k: nIn, a: input.row(range.lowerBound), lda: nIn,
                      b: w, ldb: nIn, beta: 1, c: y, ldc: nOut)
        }
        output.zeroPaddingRows(of: layout)
        return output
    }

    func backward(_ gradOutput: Matrix) -> Matrix {
        guard let x = input else { preconditionFailure("Linear.backward called before forward") }
        precondition(gradOutput.rows == x.rows && gradOutput.cols == outFeatures,
                     "Linear.backward: gradient is \(gradOutput.rows)×\(gradOutput.cols), "
                         + "expected \(x.rows)×\(outFeatures)")
        let nIn = inFeatures, nOut = outFeatures
        let dy = gradOutput.data
        // dW += dyᵀ·x and db += Σ dy over real rows only: one product per utterance, so padding
        // rows (which may hold anything) never enter.
        let dW = weight.gradient, db = bias.gradient
        layout.forEachRealRowRange { range in
            BLAS.gemm(transA: true, m: nOut, n: nIn, k: range.count, a: dy + range.lowerBound * nOut, lda: nOut,
                      b: x.data + range.lowerBound * nIn, ldb: nIn, beta: 1, c: dW, ldc: nIn)
            for r in range {
                let g = dy + r * nOut
                for o in 0..<nOut { db[o] += g[o] }
            }
        }
        // dx = dy·W on real rows.
        inputGradient.resize(rows: x.rows, cols: nIn)
        layout.forEachRealRowRange { range in
            BLAS.gemm(m: range.count, n: nIn, k: nOut, a: dy + range.lowerBound * nOut, lda: nOut, b: weight.values,
                      ldb: nIn, c: inputGradient.row(range.lowerBound), ldc: nIn)
        }
        inputGradient.zeroPaddingRows(of: layout)
        return inputGradient
    }
}

extension Linear: InputNormFolding {
    func backwardFoldingInputNorm(_ gradOutput: Matrix, norm: FoldableNormalization) {
        guard let x = input else { preconditionFailure("Linear.backwardFoldingInputNorm called before forward") }
        precondition(x === norm.lastOutput, "Linear.backwardFoldingInputNorm: the last input was not the norm's output")
        precondition(norm.channels == inFeatures && gradOutput.rows == x.rows && gradOutput.cols == outFeatures,
                     "Linear.backwardFoldingInputNorm: gradient is \(gradOutput.rows)×\(gradOutput.cols), "
                         + "expected \(x.rows)×\(outFeatures)")
        let nIn = inFeatures, nOut = outFeatures, dy = gradOutput.data
        // x̂ goes where the input gradient would (none is computed on this path).
        let xhat = inputGradient
        norm.normalizedInput(into: xhat)
        foldedGradient.resize(rows: nOut, cols: nIn)
        foldedGradient.zero()
        outputGradientSum.resize(rows: 1, cols: nOut)
        outputGradientSum.zero()
        let g = foldedGradient.data, s = outputGradientSum.data
        // G = dyᵀ·x̂ and s = Σ dy over real rows.
        layout.forEachRealRowRange { range in
            BLAS.gemm(transA: true, m: nOut, n: nIn, k: range.count, a: dy + range.lowerBound * nOut, lda: nOut,
                      b: xhat.row(range.lowerBound), ldb: nIn, beta: 1, c: g, ldc: nIn)
            for r in range { RowKernel.accumulate(dy + r * nOut, into: s, nOut) }
        }
        let w = weight.values
        for o in 0..<nOut {
            RowKernel.foldInputNorm(weight: w + o * nIn, g: g + o * nIn, s: s[o], nIn, gamma: norm.gain.values,
                                    beta: norm.shift.values, dGamma: norm.gain.gradient, dBeta: norm.shift.gradient)
        }
        RowKernel.accumulate(g, into: weight.gradient, nOut * nIn)
        RowKernel.accumulate(s, into: bias.gradient, nOut)
    }
}
