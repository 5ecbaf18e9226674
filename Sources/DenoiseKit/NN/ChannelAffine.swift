/// A learned per-channel scale and shift, y = x·γ[c] + β[c]: the affine half of a normalisation whose statistics
/// are taken before the network (the running input normalisation, see `RunningNormalizer`), so that x is x̂.
///
/// input/output [rows × channels], channels last. Padding rows of the output and of the input gradient are zero
/// and never reach the parameter gradients. Parameters: `name.weight` (γ, init 1) and `name.bias` (β, init 0), as
/// the other norms' affines, with no weight decay.
///
///     dx = dy · γ[c],  dγ[c] += Σ_rows dy · x,  dβ[c] += Σ_rows dy
final class ChannelAffine: Layer {
    let channels: Int
    let gain: Parameter
    let shift: Parameter

    private let output = Matrix(rows: 0, cols: 0)
    private let inputGradient = Matrix(rows: 0, cols: 0)
    // Cached by forward for backward: the input (a reference; it belongs to the caller and stays unchanged until
    // the next forward) and the layout.
    private var input: Matrix?
    private var layout = SequenceBatch.single(frames: 0)

    init(_ channels: Int, store: ParameterStore, name: String) {
        precondition(channels > 0, "ChannelAffine '\(name)' needs a positive channel count, got \(channels)")
        self.channels = channels
        gain = store.add("\(name).weight", shape: [channels], decays: false) { _ in 1 }
        shift = store.add("\(name).bias", shape: [channels], decays: false) { _ in 0 }
    }

    func forward(_ x: Matrix, layout: SequenceBatch, training: Bool) -> Matrix {
        checkLayerInput(x, layout: layout, features: channels, layer: "ChannelAffine")
        input = x
        self.layout = layout
        output.resize(rows: x.rows, cols: channels)
        let chunks = layout.parallelism.chunks(elements: layout.realFrames * channels)
        layout.forEachRealRowPiece(chunks: chunks) { _, rows in
            for r in rows { inferRow(x.row(r), into: output.row(r)) }
        }
        output.zeroPaddingRows(of: layout)
        return output
    }

    func backward(_ gradOutput: Matrix) -> Matrix {
        guard let x = input else { preconditionFailure("ChannelAffine.backward called before forward") }
        precondition(gradOutput.rows == x.rows && gradOutput.cols == channels,
                     "ChannelAffine.backward: gradient is \(gradOutput.rows)×\(gradOutput.cols), "
                         + "expected \(x.rows)×\(channels)")
        let n = channels, gamma = gain.values, dGamma = gain.gradient, dBeta = shift.gradient
        inputGradient.resize(rows: x.rows, cols: n)
        // Serially, in row order: the parameter sums are then the same whatever the thread count.
        layout.forEachRealRowRange { rows in
            for r in rows {
                let dy = gradOutput.row(r), xr = x.row(r), dx = inputGradient.row(r)
                for c in 0..<n {
                    dx[c] = dy[c] * gamma[c]
                    dGamma[c] += dy[c] * xr[c]
                    dBeta[c] += dy[c]
                }
            }
        }
        inputGradient.zeroPaddingRows(of: layout)
        return inputGradient
    }

    /// y = x·γ + β for one row [channels] (inference, frame by frame).
    func inferRow(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        let gamma = gain.values, beta = shift.values
        for c in 0..<channels { y[c] = x[c] * gamma[c] + beta[c] }
    }
}

extension ChannelAffine: FoldableNormalization {
    var lastOutput: Matrix { output }

    /// x̂ is the input itself, already normalised.
    func normalizedInput(into result: Matrix) {
        guard let x = input else { preconditionFailure("ChannelAffine.normalizedInput called before forward") }
        result.resize(rows: x.rows, cols: channels)
        result.copy(from: x)
        result.zeroPaddingRows(of: layout)
    }
}
