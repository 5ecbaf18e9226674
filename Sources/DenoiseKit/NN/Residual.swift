/// A skip connection around a block of layers: y = x + body(x), so dL/dx = dL/dy + body's input gradient.
///
/// The identity path lets a deep stack of blocks train as easily as a shallow one. input [rows × n] → output
/// [rows × n]: the body must keep the width. Padding rows stay zero.
final class Residual: Layer {
    let body: Layer
    private let output = Matrix(rows: 0, cols: 0)
    private let inputGradient = Matrix(rows: 0, cols: 0)
    private var layout = SequenceBatch.single(frames: 0)

    init(_ body: Layer) {
        self.body = body
    }

    func forward(_ input: Matrix, layout: SequenceBatch, training: Bool) -> Matrix {
        checkLayerInput(input, layout: layout, features: nil, layer: "Residual")
        self.layout = layout
        let transformed = body.forward(input, layout: layout, training: training)
        precondition(transformed.rows == input.rows && transformed.cols == input.cols,
                     "Residual: the body maps \(input.cols) features to \(transformed.cols); it must keep them")
        Residual.add(input, transformed, into: output, layout: layout)
        return output
    }

    func backward(_ gradOutput: Matrix) -> Matrix {
        precondition(gradOutput.rows == output.rows && gradOutput.cols == output.cols,
                     "Residual.backward: gradient is \(gradOutput.rows)×\(gradOutput.cols), "
                         + "expected \(output.rows)×\(output.cols)")
        // The body's backward may reuse its scratch but never writes gradOutput, which belongs to the next layer.
        let throughBody = body.backward(gradOutput)
        Residual.add(gradOutput, throughBody, into: inputGradient, layout: layout)
        return inputGradient
    }

    /// result = a + b on the real rows, zero on the padding rows.
    private static func add(_ a: Matrix, _ b: Matrix, into result: Matrix, layout: SequenceBatch) {
        let n = a.cols
        result.resize(rows: a.rows, cols: n)
        layout.forEachRealRowPiece(chunks: layout.parallelism.chunks(elements: layout.realFrames * n)) { _, rows in
            let count = rows.count * n
            let x = a.row(rows.lowerBound), y = b.row(rows.lowerBound), z = result.row(rows.lowerBound)
            RowKernel.add(x, y, into: z, count)
        }
        result.zeroPaddingRows(of: layout)
    }
}
