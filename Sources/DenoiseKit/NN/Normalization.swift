// LayerNorm, GroupNorm and InstanceNorm: one kernel, three ways of cutting the activations into groups.
//
// Layout everywhere: [rows × channels], channels last, rows = utterances × padded frames. A group is a
// block of rows × a contiguous run of channels; each group is normalised to zero mean and unit (biased)
// variance, then y = x̂·γ[c] + β[c]. In this layout LayerNorm's per-element affine over its normalised
// shape [features] and GroupNorm's per-channel affine are the same thing: one γ and one β per column.
//
//     μ = mean(x),  σ² = mean((x − μ)²),  x̂ = (x − μ) / √(σ² + ε)
//     dx = (1/√(σ² + ε)) · (g − mean(g) − x̂ · mean(g · x̂)),  g = dy · γ[c]        (means over the group)
//     dγ[c] += Σ dy · x̂,  dβ[c] += Σ dy                                           (over the column's rows)

/// How rows are grouped for the statistics.
private enum RowBlocks {
    /// Every real row alone (LayerNorm).
    case eachRealRow
    /// All real rows of one utterance together (GroupNorm, InstanceNorm).
    case eachUtterance

    func count(_ layout: SequenceBatch) -> Int {
        switch self {
        case .eachRealRow: return layout.realFrames
        case .eachUtterance: return layout.batch
        }
    }

    /// Calls `body(blockIndex, rows)` for every block, in order; utterance blocks may be empty.
    @inline(__always)
    func forEach(_ layout: SequenceBatch, _ body: (Int, Range<Int>) -> Void) {
        switch self {
        case .eachRealRow:
            var i = 0
            layout.forEachRealRowRange { range in
                for r in range {
                    body(i, r ..< r + 1)
                    i += 1
                }
            }
        case .eachUtterance:
            for b in 0..<layout.batch { body(b, layout.realRows(of: b)) }
        }
    }
}

/// The shared normalisation kernel and layer state: statistics per (row block × channel group), affine
/// per channel. Padding rows never enter a statistic or a parameter gradient; they are written as zeros
/// in the output and the input gradient.
private final class GroupedNormalization {
    let channels: Int
    let groups: Int
    let eps: Float
    let blocks: RowBlocks
    let gain: Parameter
    let shift: Parameter

    let output = Matrix(rows: 0, cols: 0)
    let inputGradient = Matrix(rows: 0, cols: 0)
    // Cached by forward for backward: the input (a reference, unchanged until the next forward), the
    // layout, and the mean and inverse standard deviation 1/√(σ² + ε) of each group, block-major
    // [blocks × groups]. Backward recomputes x̂ from these rather than storing it.
    private var input: Matrix?
    private var layout = SequenceBatch.flat(rows: 0)
    private let mean = Matrix(rows: 0, cols: 0)
    private let invStd = Matrix(rows: 0, cols: 0)
    // Per-channel sums for dγ and dβ: vectorised Float partials over at most `flushRows` rows, added into
    // Double totals (the sums run over every real row of the batch). `pendingRows[g]` counts the rows in
    // group g's partials.
    private static let flushRows = 32
    private let gainPartial: UnsafeMutablePointer<Float>
    private let shiftPartial: UnsafeMutablePointer<Float>
    private let gainSum: UnsafeMutablePointer<Double>
    private let shiftSum: UnsafeMutablePointer<Double>
    private let pendingRows: UnsafeMutablePointer<Int>

    init(channels: Int, groups: Int, eps: Float, blocks: RowBlocks, store: ParameterStore, name: String,
         kind: String) {
        precondition(channels > 0, "\(kind) '\(name)' needs a positive channel count, got \(channels)")
        precondition(groups > 0 && channels % groups == 0,
                     "\(kind) '\(name)': \(groups) groups do not divide \(channels) channels")
        precondition(eps > 0, "\(kind) '\(name)' needs a positive eps, got \(eps)")
        self.channels = channels
        self.groups = groups
        self.eps = eps
        self.blocks = blocks
        // PyTorch's names, so that a state dict maps one to one.
        gain = store.add("\(name).weight", shape: [channels], decays: false) { _ in 1 }
        shift = store.add("\(name).bias", shape: [channels], decays: false) { _ in 0 }
        gainPartial = .allocate(capacity: channels)
        shiftPartial = .allocate(capacity: channels)
        gainSum = .allocate(capacity: channels)
        shiftSum = .allocate(capacity: channels)
        pendingRows = .allocate(capacity: groups)
    }

    deinit {
        gainPartial.deallocate()
        shiftPartial.deallocate()
        gainSum.deallocate()
        shiftSum.deallocate()
        pendingRows.deallocate()
    }

    func forward(_ x: Matrix, layout: SequenceBatch, kind: String) -> Matrix {
        checkLayerInput(x, layout: layout, features: channels, layer: kind)
        input = x
        self.layout = layout
        let nc = channels, cpg = channels / groups, groups = self.groups
        let statistics = blocks.count(layout) * groups
        mean.resize(rows: statistics, cols: 1)
        invStd.resize(rows: statistics, cols: 1)
        output.resize(rows: x.rows, cols: nc)
        let xs = x.data, ys = output.data, mu = mean.data, inv = invStd.data
        let gamma = gain.value, beta = shift.value, eps = Double(self.eps)

        blocks.forEach(layout) { block, rows in
            for g in 0..<groups {
                let c0 = g * cpg, s = block * groups + g
                guard !rows.isEmpty else {
                    mu[s] = 0
                    inv[s] = 0
                    continue
                }
                let n = Double(rows.count * cpg)
                // Two passes (mean, then centred squares): no cancellation. Each row segment is summed in
                // Float lanes, rows are added in Double, so long groups (GroupNorm) stay accurate too.
                var sum = 0.0
                for r in rows { sum += Double(RowKernel.sum(xs + r * nc + c0, cpg)) }
                let meanF = Float(sum / n)
                var squares = 0.0
                for r in rows { squares += Double(RowKernel.centredSquares(xs + r * nc + c0, cpg, mean: meanF)) }
                let invF = Float(1 / (squares / n + eps).squareRoot())
                mu[s] = meanF
                inv[s] = invF
                for r in rows {
                    RowKernel.normalize(xs + r * nc + c0, ys + r * nc + c0, cpg, mean: meanF, inv: invF,
                                        gamma: gamma + c0, beta: beta + c0)
                }
            }
        }
        output.zeroPaddingRows(of: layout)
        return output
    }

    /// x̂ = (x − μ)·(1/√(σ² + ε)) of the last forward's real rows into `result` (resized); zeros on padding rows.
    /// For row blocks only (LayerNorm), where each row has its own statistics.
    func normalizedInput(into result: Matrix, kind: String) {
        guard let x = input else { preconditionFailure("\(kind): normalized input asked before forward") }
        precondition(groups == 1, "\(kind): normalized input needs one group")
        let nc = channels
        result.resize(rows: x.rows, cols: nc)
        var block = 0
        layout.forEachRealRowRange { range in
            for r in range {
                RowKernel.standardize(x.row(r), result.row(r), nc, mean: mean.data[block], inv: invStd.data[block])
                block += 1
            }
        }
        result.zeroPaddingRows(of: layout)
    }

    func backward(_ gradOutput: Matrix, kind: String) -> Matrix {
        guard let x = input else { preconditionFailure("\(kind).backward called before forward") }
        precondition(gradOutput.rows == x.rows && gradOutput.cols == channels,
                     "\(kind).backward: gradient is \(gradOutput.rows)×\(gradOutput.cols), "
                         + "expected \(x.rows)×\(channels)")
        let nc = channels, cpg = channels / groups, groups = self.groups
        inputGradient.resize(rows: x.rows, cols: nc)
        let xs = x.data, dys = gradOutput.data, dxs = inputGradient.data, mu = mean.data, inv = invStd.data
        let gamma = gain.value
        let gainPartial = self.gainPartial, shiftPartial = self.shiftPartial
        let gainSum = self.gainSum, shiftSum = self.shiftSum, pendingRows = self.pendingRows
        gainPartial.update(repeating: 0, count: nc)
        shiftPartial.update(repeating: 0, count: nc)
        gainSum.update(repeating: 0, count: nc)
        shiftSum.update(repeating: 0, count: nc)
        pendingRows.update(repeating: 0, count: groups)
        func flush(group g: Int) {
            for c in (g * cpg)..<((g + 1) * cpg) {
                gainSum[c] += Double(gainPartial[c])
                shiftSum[c] += Double(shiftPartial[c])
                gainPartial[c] = 0
                shiftPartial[c] = 0
            }
            pendingRows[g] = 0
        }
        blocks.forEach(layout) { block, rows in
            guard !rows.isEmpty else { return }
            for g in 0..<groups {
                let c0 = g * cpg, s = block * groups + g
                let m = mu[s], invF = inv[s]
                let n = Double(rows.count * cpg)
                // Σ g and Σ g·x̂ over the group, with g = dy·γ; Float per row segment, Double across rows.
                var sumG = 0.0, sumGX = 0.0
                for r in rows {
                    let o = r * nc + c0
                    let sums = RowKernel.normalizationSums(x: xs + o, dy: dys + o, cpg, mean: m, inv: invF,
                                                           gamma: gamma + c0, dGamma: gainPartial + c0,
                                                           dBeta: shiftPartial + c0)
                    sumG += Double(sums.sumG)
                    sumGX += Double(sums.sumGX)
                    pendingRows[g] += 1
                    if pendingRows[g] == Self.flushRows { flush(group: g) }
                }
                let meanG = Float(sumG / n), meanGX = Float(sumGX / n)
                for r in rows {
                    let o = r * nc + c0
                    RowKernel.normalizationInputGradient(x: xs + o, dy: dys + o, dx: dxs + o, cpg, mean: m, inv: invF,
                                                         gamma: gamma + c0, meanG: meanG, meanGX: meanGX)
                }
            }
        }
        for g in 0..<groups { flush(group: g) }
        let dGamma = gain.gradient, dBeta = shift.gradient
        for c in 0..<nc {
            dGamma[c] += Float(gainSum[c])
            dBeta[c] += Float(shiftSum[c])
        }
        inputGradient.zeroPaddingRows(of: layout)
        return inputGradient
    }
}

/// Layer normalisation (Ba et al., 2016) over the feature axis of each row, biased variance:
/// y = (x − μ_row) / √(σ²_row + ε) · γ + β, with per-element γ (init 1) and β (init 0).
///
/// input/output [rows × features], channels last. Each real row is normalised on its own, so an
/// utterance's output does not depend on the rest of its batch. Parameters: `name.weight` (γ) and
/// `name.bias` (β), no weight decay.
public final class LayerNorm: Layer {
    public let features: Int
    private let kernel: GroupedNormalization

    public init(_ features: Int, eps: Float = 1e-5, store: ParameterStore, name: String) {
        self.features = features
        kernel = GroupedNormalization(channels: features, groups: 1, eps: eps, blocks: .eachRealRow, store: store,
                                      name: name, kind: "LayerNorm")
    }

    public var gain: Parameter { kernel.gain }
    public var shift: Parameter { kernel.shift }

    public func forward(_ input: Matrix, layout: SequenceBatch, training: Bool) -> Matrix {
        kernel.forward(input, layout: layout, kind: "LayerNorm")
    }

    public func backward(_ gradOutput: Matrix) -> Matrix { kernel.backward(gradOutput, kind: "LayerNorm") }

    /// The output of the last forward (what the next layer received).
    var lastOutput: Matrix { kernel.output }

    /// x̂ of the last forward into `result` [rows × features]; zeros on padding rows.
    func normalizedInput(into result: Matrix) { kernel.normalizedInput(into: result, kind: "LayerNorm") }
}

/// A layer that can take over the backward pass of the LayerNorm feeding it when nobody needs the gradient
/// with respect to that LayerNorm's input (a network's input features): instead of forming dL/dy for the
/// norm's output y = x̂·γ + β (a product as large as the layer's forward) and running the norm's backward,
/// it accumulates its own parameter gradients and the norm's dγ, dβ directly from x̂.
///
/// With dh the layer's output gradient and a linear map h = y·Wᵀ + b (per tap for a convolution):
///
///     G = dhᵀ·x̂,  s = Σ_rows dh:   dW += G·diag(γ) + s·βᵀ,  db += s,
///     dγ[c] += Σ_o W[o, c]·G[o, c],  dβ[c] += Σ_o W[o, c]·s[o]
///
/// since dW = dhᵀ·y = dhᵀ·(x̂·diag(γ) + 1·βᵀ), and dL/dy = dh·W gives dγ = Σ_rows (dh·W) ⊙ x̂, dβ = Σ_rows dh·W.
protocol InputNormFolding: Layer {
    /// Accumulates this layer's and `norm`'s parameter gradients for the last forward, whose input must have been
    /// `norm`'s last output. Computes no input gradient.
    func backwardFoldingInputNorm(_ gradOutput: Matrix, norm: LayerNorm)
}

/// Group normalisation (Wu & He, 2018) over time: the channels are split into `groups` contiguous groups,
/// and each (utterance, group) is normalised over its channels × the utterance's real frames (biased
/// variance), then scaled and shifted per channel: y = x̂ · γ[c] + β[c].
///
/// input/output [rows × channels], channels last, rows = utterances × padded frames. Padding frames are
/// not part of any statistic, so an utterance's output does not depend on its batch. Parameters:
/// `name.weight` (γ, init 1) and `name.bias` (β, init 0), no weight decay.
public final class GroupNorm: Layer {
    public let groups: Int
    public let channels: Int
    private let kernel: GroupedNormalization

    public init(groups: Int, channels: Int, eps: Float = 1e-5, store: ParameterStore, name: String) {
        self.groups = groups
        self.channels = channels
        kernel = GroupedNormalization(channels: channels, groups: groups, eps: eps, blocks: .eachUtterance,
                                      store: store, name: name, kind: "GroupNorm")
    }

    public var gain: Parameter { kernel.gain }
    public var shift: Parameter { kernel.shift }

    public func forward(_ input: Matrix, layout: SequenceBatch, training: Bool) -> Matrix {
        kernel.forward(input, layout: layout, kind: "GroupNorm")
    }

    public func backward(_ gradOutput: Matrix) -> Matrix { kernel.backward(gradOutput, kind: "GroupNorm") }
}

/// Instance normalisation (Ulyanov et al., 2016): GroupNorm with one channel per group, i.e. each channel
/// of each utterance normalised over the utterance's real frames, with a per-channel affine
/// (`name.weight`, `name.bias`; PyTorch's InstanceNorm1d has none by default, ours always does).
///
/// input/output [rows × channels], channels last, rows = utterances × padded frames.
public final class InstanceNorm: Layer {
    public let channels: Int
    private let kernel: GroupedNormalization

    public init(_ channels: Int, eps: Float = 1e-5, store: ParameterStore, name: String) {
        self.channels = channels
        kernel = GroupedNormalization(channels: channels, groups: channels, eps: eps, blocks: .eachUtterance,
                                      store: store, name: name, kind: "InstanceNorm")
    }

    public var gain: Parameter { kernel.gain }
    public var shift: Parameter { kernel.shift }

    public func forward(_ input: Matrix, layout: SequenceBatch, training: Bool) -> Matrix {
        kernel.forward(input, layout: layout, kind: "InstanceNorm")
    }

    public func backward(_ gradOutput: Matrix) -> Matrix { kernel.backward(gradOutput, kind: "InstanceNorm") }
}
