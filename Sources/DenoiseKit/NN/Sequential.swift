/// A chain of layers applied in order; backward runs them in reverse.
///
/// Layout: whatever its layers use ([rows × features], channels last, rows as `layout` says).
/// The output of layer i is the input of layer i + 1, so no activation is copied between layers.
public final class Sequential: Layer {
    public let layers: [Layer]

    public init(_ layers: [Layer]) {
        precondition(!layers.isEmpty, "Sequential needs at least one layer")
        self.layers = layers
    }

    public func forward(_ input: Matrix, layout: SequenceBatch, training: Bool) -> Matrix {
        var h = input
        for layer in layers { h = layer.forward(h, layout: layout, training: training) }
        return h
    }

    public func backward(_ gradOutput: Matrix) -> Matrix {
        var g = gradOutput
        for layer in layers.reversed() { g = layer.backward(g) }
        return g
    }
}

// MARK: - Helpers shared by the layers in NN/

extension SequenceBatch {
    /// Calls `body` with the contiguous row range of each utterance's real frames, skipping empty ones.
    @inline(__always)
    func forEachRealRowRange(_ body: (Range<Int>) -> Void) {
        for b in 0..<batch where lengths[b] > 0 { body(realRows(of: b)) }
    }
}

extension Matrix {
    /// Writes zeros to the padding rows that `layout` describes (every row past an utterance's length).
    func zeroPaddingRows(of layout: SequenceBatch) {
        precondition(rows == layout.rows, "matrix has \(rows) rows but the layout has \(layout.rows)")
        let n = cols
        for b in 0..<layout.batch where layout.lengths[b] < layout.frames {
            let first = b * layout.frames + layout.lengths[b]
            let count = (layout.frames - layout.lengths[b]) * n
            (data + first * n).update(repeating: 0, count: count)
        }
    }
}

/// Stops with a message naming the layer when an input does not match the layout or the layer's width.
@inline(__always)
func checkLayerInput(_ input: Matrix, layout: SequenceBatch, features: Int?, layer: String) {
    precondition(input.rows == layout.rows,
                 "\(layer): input has \(input.rows) rows but the layout has \(layout.rows)")
    if let features {
        precondition(input.cols == features, "\(layer): input has \(input.cols) features, expected \(features)")
    }
}
