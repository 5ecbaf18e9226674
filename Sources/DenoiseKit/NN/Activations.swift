import Foundation

// Element-wise activations. input [rows × n] → output [rows × n], any n, channels last.
// Real rows are mapped, padding rows of the output and of the input gradient are written as zeros
// (sigmoid(0) = 0.5 would otherwise leak into padding).

/// Applies `f` to each element of the real rows of `input`, writing `output` (resized); zeros elsewhere.
/// Large batches are split across threads (`Parallel`).
@inline(__always)
private func mapRealRows(_ input: Matrix, into output: Matrix, layout: SequenceBatch, _ f: (Float) -> Float) {
    output.resize(rows: input.rows, cols: input.cols)
    let n = input.cols
    layout.forEachRealRowPiece(chunks: layout.parallelism.chunks(elements: layout.realFrames * n)) { _, range in
        let x = input.row(range.lowerBound), y = output.row(range.lowerBound)
        for i in 0..<(range.count * n) { y[i] = f(x[i]) }
    }
    output.zeroPaddingRows(of: layout)
}

/// dx = g(dy, cached) element-wise on real rows, zeros on padding rows.
@inline(__always)
private func mapRealRows(_ gradOutput: Matrix, _ cached: Matrix, into gradInput: Matrix, layout: SequenceBatch,
                         _ g: (Float, Float) -> Float) {
    precondition(gradOutput.rows == cached.rows && gradOutput.cols == cached.cols,
                 "activation backward: gradient is \(gradOutput.rows)×\(gradOutput.cols), "
                     + "expected \(cached.rows)×\(cached.cols)")
    gradInput.resize(rows: cached.rows, cols: cached.cols)
    let n = cached.cols
    layout.forEachRealRowPiece(chunks: layout.parallelism.chunks(elements: layout.realFrames * n)) { _, range in
        let dy = gradOutput.row(range.lowerBound), c = cached.row(range.lowerBound)
        let dx = gradInput.row(range.lowerBound)
        for i in 0..<(range.count * n) { dx[i] = g(dy[i], c[i]) }
    }
    gradInput.zeroPaddingRows(of: layout)
}

/// y = max(0, x); dy/dx = 1 for x > 0, else 0 (as PyTorch at x = 0).
final class ReLU: Layer {
    private let output = Matrix(rows: 0, cols: 0)
    private let inputGradient = Matrix(rows: 0, cols: 0)
    // Cached by forward: the layout (the output itself tells where x > 0).
    private var layout = SequenceBatch.single(frames: 0)

    init() {}

    func forward(_ input: Matrix, layout: SequenceBatch, training: Bool) -> Matrix {
        checkLayerInput(input, layout: layout, features: nil, layer: "ReLU")
        self.layout = layout
        mapRealRows(input, into: output, layout: layout) { max($0, 0) }
        return output
    }

    func backward(_ gradOutput: Matrix) -> Matrix {
        mapRealRows(gradOutput, output, into: inputGradient, layout: layout) { dy, y in y > 0 ? dy : 0 }
        return inputGradient
    }
}

/// y = x for x > 0, slope·x otherwise.
final class LeakyReLU: Layer {
    let slope: Float
    private let output = Matrix(rows: 0, cols: 0)
    private let inputGradient = Matrix(rows: 0, cols: 0)
    // Cached by forward: the input (a reference; its sign picks the branch, whatever the slope's sign).
    private var input = Matrix(rows: 0, cols: 0)
    private var layout = SequenceBatch.single(frames: 0)

    init(slope: Float = 0.01) { self.slope = slope }

    func forward(_ input: Matrix, layout: SequenceBatch, training: Bool) -> Matrix {
        checkLayerInput(input, layout: layout, features: nil, layer: "LeakyReLU")
        self.input = input
        self.layout = layout
        let a = slope
        mapRealRows(input, into: output, layout: layout) { $0 > 0 ? $0 : a * $0 }
        return output
    }

    func backward(_ gradOutput: Matrix) -> Matrix {
        let a = slope
        mapRealRows(gradOutput, input, into: inputGradient, layout: layout) { dy, x in x > 0 ? dy : a * dy }
        return inputGradient
    }
}

/// y = 1 / (1 + e^(−x)); dy/dx = y·(1 − y).
final class Sigmoid: Layer {
    private let output = Matrix(rows: 0, cols: 0)
    private let inputGradient = Matrix(rows: 0, cols: 0)
    // Cached by forward: the output y (backward needs only y) and the layout.
    private var layout = SequenceBatch.single(frames: 0)

    init() {}

    func forward(_ input: Matrix, layout: SequenceBatch, training: Bool) -> Matrix {
        checkLayerInput(input, layout: layout, features: nil, layer: "Sigmoid")
        self.layout = layout
        output.resize(rows: input.rows, cols: input.cols)
        let n = input.cols
        layout.forEachRealRowPiece(chunks: layout.parallelism.chunks(elements: layout.realFrames * n)) { _, range in
            Sigmoid.apply(input.row(range.lowerBound), output.row(range.lowerBound), range.count * n)
        }
        output.zeroPaddingRows(of: layout)
        return output
    }

    /// y[i] = sigmoid(x[i]), i < count: 1/(1 + 2^(−x·log2 e)), eight at a time; the exponent is clamped to ±125,
    /// where the sigmoid is 0 or 1 to within 10⁻³⁷ (and exp(−x) itself would overflow for x < −88).
    static func apply(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int) {
        let low = SIMD8<Float>(repeating: -125), high = SIMD8<Float>(repeating: 125)
        var i = 0
        while i + 8 <= count {
            // Compares and blends: `clamped` is two uninlined generic calls (pointwiseMin, pointwiseMax) here.
            var t = -1.442_695_04 * load8(x + i)
            t = t.replacing(with: low, where: t .< low).replacing(with: high, where: t .> high)
            store8(1 / (1 + RowKernel.exp2(t)), y + i)
            i += 8
        }
        while i < count {
            y[i] = 1 / (1 + Foundation.exp(-x[i]))
            i += 1
        }
    }

    func backward(_ gradOutput: Matrix) -> Matrix {
        mapRealRows(gradOutput, output, into: inputGradient, layout: layout) { dy, y in dy * y * (1 - y) }
        return inputGradient
    }
}

/// y = tanh(x); dy/dx = 1 − y².
final class Tanh: Layer {
    private let output = Matrix(rows: 0, cols: 0)
    private let inputGradient = Matrix(rows: 0, cols: 0)
    // Cached by forward: the output y and the layout.
    private var layout = SequenceBatch.single(frames: 0)

    init() {}

    func forward(_ input: Matrix, layout: SequenceBatch, training: Bool) -> Matrix {
        checkLayerInput(input, layout: layout, features: nil, layer: "Tanh")
        self.layout = layout
        mapRealRows(input, into: output, layout: layout) { Foundation.tanh($0) }
        return output
    }

    func backward(_ gradOutput: Matrix) -> Matrix {
        mapRealRows(gradOutput, output, into: inputGradient, layout: layout) { dy, y in dy * (1 - y * y) }
        return inputGradient
    }
}
