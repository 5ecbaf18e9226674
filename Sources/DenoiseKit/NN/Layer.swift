/// A network layer with an explicit forward and backward pass.
///
/// Activations are `Matrix` values of shape [rows × features], rows laid out as `layout` says.
/// `forward` caches what `backward` needs when `training` is true; `backward` takes the gradient
/// of the loss with respect to the last forward's output, accumulates parameter gradients into the
/// parameter store, and returns the gradient with respect to that forward's input. Returned
/// matrices belong to the layer and are overwritten by its next call.
protocol Layer: AnyObject {
    func forward(_ input: Matrix, layout: SequenceBatch, training: Bool) -> Matrix
    func backward(_ gradOutput: Matrix) -> Matrix
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
