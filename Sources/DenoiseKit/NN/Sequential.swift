/// A chain of layers applied in order; backward runs them in reverse.
///
/// Layout: whatever its layers use ([rows × features], channels last, rows as `layout` says).
/// The output of layer i is the input of layer i + 1, so no activation is copied between layers.
final class Sequential: Layer {
    let layers: [Layer]

    init(_ layers: [Layer]) {
        precondition(!layers.isEmpty, "Sequential needs at least one layer")
        self.layers = layers
    }

    func forward(_ input: Matrix, layout: SequenceBatch, training: Bool) -> Matrix {
        var h = input
        for layer in layers { h = layer.forward(h, layout: layout, training: training) }
        return h
    }

    func backward(_ gradOutput: Matrix) -> Matrix {
        var g = gradOutput
        for layer in layers.reversed() { g = layer.backward(g) }
        return g
    }
}
