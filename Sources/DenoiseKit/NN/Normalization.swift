// LayerNorm, GroupNorm and InstanceNorm: one kernel, three ways of cutting the activations into groups.
//
// Layout everywhere: [rows × channels], channels last, rows = utterances × padded frames. A group is a
// block of rows × a contiguous run of channels; each group is normalised to zero mean and unit (biased)
// variance, then y = x̂·γ[c] + β[c], or max(0, x̂·γ[c] + β[c]) when the norm is `rectified` (the ReLU that
// follows every hidden norm, fused: one sweep instead of two, no extra activation matrix). In this layout
// LayerNorm's per-element affine over its normalised shape [features] and GroupNorm's per-channel affine are the
// same thing: one γ and one β per column.
//
//     μ = mean(x),  σ² = mean((x − μ)²),  x̂ = (x − μ) / √(σ² + ε)
//     dx = (1/√(σ² + ε)) · (g − mean(g) − x̂ · mean(g · x̂)),  g = dy · γ[c]        (means over the group)
//     dγ[c] += Σ dy · x̂,  dβ[c] += Σ dy                                           (over the column's rows)

/// How rows are grouped for the statistics.
private enum RowBlocks {
    /// Every real row alone (LayerNorm); a block's index is its row.
    case eachRealRow
    /// All real rows of one utterance together (GroupNorm, InstanceNorm); a block's index is its utterance.
    case eachUtterance

    func count(_ layout: SequenceBatch) -> Int {
        switch self {
        case .eachRealRow: return layout.rows
        case .eachUtterance: return layout.batch
        }
    }

    /// How many chunks to split a pass over `layout` with `channels` columns into (see `Parallel`).
    func chunks(_ layout: SequenceBatch, channels: Int) -> Int {
        let chunks = layout.parallelism.chunks(elements: layout.realFrames * channels)
        switch self {
        case .eachRealRow: return chunks
        case .eachUtterance: return max(1, min(chunks, layout.batch))
        }
    }

    /// Calls `body(chunk, block, rows)` for every block, in order within a chunk, the `chunks` contiguous parts
    /// of the batch concurrently. Utterance blocks may be empty.
    @inline(__always)
    func forEach(_ layout: SequenceBatch, chunks: Int,
                 _ body: (_ chunk: Int, _ block: Int, _ rows: Range<Int>) -> Void) {
        switch self {
        case .eachRealRow:
            layout.forEachRealRowPiece(chunks: chunks) { chunk, range in
                for r in range { body(chunk, r, r ..< r + 1) }
            }
        case .eachUtterance:
            Parallel.run(chunks) { chunk in
                for b in Parallel.part(chunk, of: chunks, total: layout.batch) {
                    body(chunk, b, layout.realRows(of: b))
                }
            }
        }
    }
}

/// The shared normalisation kernel and layer state: statistics per (row block × channel group), affine
/// per channel. Padding rows never enter a statistic or a parameter gradient; they are written as zeros
/// in the output and the input gradient. Large batches are split across threads in contiguous chunks of
/// blocks (`Parallel`); each chunk sums its own dγ and dβ, and the chunks' sums are added in chunk order.
private final class GroupedNormalization {
    let channels: Int
    let groups: Int
    let eps: Float
    let blocks: RowBlocks
    let rectified: Bool
    let gain: Parameter
    let shift: Parameter

    let output = Matrix(rows: 0, cols: 0)
    let inputGradient = Matrix(rows: 0, cols: 0)
    // Cached by forward for backward: the input (a reference, unchanged until the next forward), the
    // layout, and the mean and inverse standard deviation 1/√(σ² + ε) of each group, block-major
    // [blocks × groups]. Backward recomputes x̂ from these rather than storing it.
    private var input: Matrix?
    private var layout = SequenceBatch.single(frames: 0)
    private let mean = Matrix(rows: 0, cols: 0)
    private let invStd = Matrix(rows: 0, cols: 0)
    // Per-channel sums for dγ and dβ, one set per chunk [chunks × channels]: vectorised Float partials over at
    // most `flushRows` rows, added into Double totals (the sums run over every real row of the batch).
    // `pendingRows[chunk × groups + g]` counts the rows in group g's partials.
    private static let flushRows = 32
    private let gainPartial = ScratchBuffer<Float>(zero: 0)
    private let shiftPartial = ScratchBuffer<Float>(zero: 0)
    private let gainSum = ScratchBuffer<Double>(zero: 0)
    private let shiftSum = ScratchBuffer<Double>(zero: 0)
    private let pendingRows = ScratchBuffer<Int>(zero: 0)
    // Rectified backward: dL/dy gated by the output (zero where the ReLU was off).
    private let gatedGradient = Matrix(rows: 0, cols: 0)

    init(channels: Int, groups: Int, eps: Float, blocks: RowBlocks, rectified: Bool, store: ParameterStore,
         name: String, kind: String) {
        precondition(channels > 0, "\(kind) '\(name)' needs a positive channel count, got \(channels)")
        precondition(groups > 0 && channels % groups == 0,
                     "\(kind) '\(name)': \(groups) groups do not divide \(channels) channels")
        precondition(eps > 0, "\(kind) '\(name)' needs a positive eps, got \(eps)")
        self.channels = channels
        self.groups = groups
        self.eps = eps
        self.blocks = blocks
        self.rectified = rectified
        // PyTorch's names, so that a state dict maps one to one.
        gain = store.add("\(name).weight", shape: [channels], decays: false) { _ in 1 }
        shift = store.add("\(name).bias", shape: [channels], decays: false) { _ in 0 }
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
        let gamma = gain.values, beta = shift.values, eps = Double(self.eps), rectified = self.rectified

        blocks.forEach(layout, chunks: blocks.chunks(layout, channels: nc)) { _, block, rows in
            for g in 0..<groups {
                let c0 = g * cpg, s = block * groups + g
                guard !rows.isEmpty else {
                    mu[s] = 0
                    inv[s] = 0
                    continue
                }
                let (meanF, invF) = Self.statistics(xs + c0, rows: rows, stride: nc, count: cpg, eps: eps)
                mu[s] = meanF
                inv[s] = invF
                for r in rows {
                    let o = r * nc + c0
                    Self.normalize(xs + o, ys + o, cpg, mean: meanF, inv: invF, gamma: gamma + c0, beta: beta + c0,
                                   rectified: rectified)
                }
            }
        }
        output.zeroPaddingRows(of: layout)
        return output
    }

    /// Mean and 1/√(σ² + ε) of `count` values in each of `rows`, `stride` apart. Two passes (mean, then centred
    /// squares): no cancellation. Each row segment is summed in Float lanes, rows are added in Double, so long
    /// groups (GroupNorm) stay accurate too.
    @inline(__always)
    private static func statistics(_ x: UnsafePointer<Float>, rows: Range<Int>, stride: Int, count: Int,
                                   eps: Double) -> (mean: Float, inv: Float) {
        let n = Double(rows.count * count)
        var sum = 0.0
        for r in rows { sum += Double(RowKernel.sum(x + r * stride, count)) }
        let mean = Float(sum / n)
        var squares = 0.0
        for r in rows { squares += Double(RowKernel.centredSquares(x + r * stride, count, mean: mean)) }
        return (mean, Float(1 / (squares / n + eps).squareRoot()))
    }

    @inline(__always)
    private static func normalize(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, mean: Float,
                                  inv: Float, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
                                  rectified: Bool) {
        if rectified {
            RowKernel.normalizeRectified(x, y, n, mean: mean, inv: inv, gamma: gamma, beta: beta)
        } else {
            RowKernel.normalize(x, y, n, mean: mean, inv: inv, gamma: gamma, beta: beta)
        }
    }

    /// One row normalised on its own, as `forward` normalises each row of a LayerNorm: for running a network one
    /// frame at a time. Caches nothing for backward.
    func normalizeRow(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        precondition(groups == 1 && blocks == .eachRealRow, "only a per-row norm can normalise a row on its own")
        let (mean, inv) = Self.statistics(x, rows: 0..<1, stride: channels, count: channels, eps: Double(eps))
        Self.normalize(x, y, channels, mean: mean, inv: inv, gamma: gain.values, beta: shift.values,
                       rectified: rectified)
    }

    /// x̂ = (x − μ)·(1/√(σ² + ε)) of the last forward's real rows into `result` (resized); zeros on padding
    /// rows.
    /// For row blocks only (LayerNorm), where each row has its own statistics.
    func normalizedInput(into result: Matrix, kind: String) {
        guard let x = input else { preconditionFailure("\(kind): normalized input asked before forward") }
        precondition(groups == 1 && blocks == .eachRealRow, "\(kind): normalized input needs one statistic per row")
        precondition(!rectified, "\(kind): a rectified norm's output is not x̂·γ + β")
        let nc = channels, mu = mean.data, inv = invStd.data
        result.resize(rows: x.rows, cols: nc)
        layout.forEachRealRowPiece(chunks: layout.parallelism.chunks(elements: layout.realFrames * nc)) { _, range in
            for r in range { RowKernel.standardize(x.row(r), result.row(r), nc, mean: mu[r], inv: inv[r]) }
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
        var dys = gradOutput.data
        if rectified {
            gatedGradient.resize(rows: x.rows, cols: nc)
            let gated = gatedGradient, y = output
            let chunks = layout.parallelism.chunks(elements: layout.realFrames * nc)
            layout.forEachRealRowPiece(chunks: chunks) { _, range in
                RowKernel.gate(gradOutput.row(range.lowerBound), by: y.row(range.lowerBound),
                               into: gated.row(range.lowerBound), range.count * nc)
            }
            dys = gated.data
        }
        let xs = x.data, dxs = inputGradient.data, mu = mean.data, inv = invStd.data
        let gamma = gain.values
        let chunks = blocks.chunks(layout, channels: nc)
        let gainPartial = self.gainPartial.zeroed(chunks * nc), shiftPartial = self.shiftPartial.zeroed(chunks * nc)
        let gainSum = self.gainSum.zeroed(chunks * nc), shiftSum = self.shiftSum.zeroed(chunks * nc)
        let pendingRows = self.pendingRows.zeroed(chunks * groups)
        // Adds chunk's Float partials of group g into its Double sums.
        func flush(chunk: Int, group g: Int) {
            for c in (chunk * nc + g * cpg) ..< (chunk * nc + (g + 1) * cpg) {
                gainSum[c] += Double(gainPartial[c])
                shiftSum[c] += Double(shiftPartial[c])
                gainPartial[c] = 0
                shiftPartial[c] = 0
            }
            pendingRows[chunk * groups + g] = 0
        }
        blocks.forEach(layout, chunks: chunks) { chunk, block, rows in
            guard !rows.isEmpty else { return }
            for g in 0..<groups {
                let c0 = g * cpg, s = block * groups + g, p = chunk * nc + c0
                let m = mu[s], invF = inv[s]
                let n = Double(rows.count * cpg)
                // Σ g and Σ g·x̂ over the group, with g = dy·γ; Float per row segment, Double across rows.
                var sumG = 0.0, sumGX = 0.0
                for r in rows {
                    let o = r * nc + c0
                    let sums = RowKernel.normalizationSums(x: xs + o, dy: dys + o, cpg, mean: m, inv: invF,
                                                           gamma: gamma + c0, dGamma: gainPartial + p,
                                                           dBeta: shiftPartial + p)
                    sumG += Double(sums.sumG)
                    sumGX += Double(sums.sumGX)
                    pendingRows[chunk * groups + g] += 1
                    if pendingRows[chunk * groups + g] == Self.flushRows { flush(chunk: chunk, group: g) }
                }
                let meanG = Float(sumG / n), meanGX = Float(sumGX / n)
                for r in rows {
                    let o = r * nc + c0
                    RowKernel.normalizationInputGradient(x: xs + o, dy: dys + o, dx: dxs + o, cpg, mean: m, inv: invF,
                                                         gamma: gamma + c0, meanG: meanG, meanGX: meanGX)
                }
            }
        }
        let dGamma = gain.gradient, dBeta = shift.gradient
        for chunk in 1..<max(chunks, 1) {
            for g in 0..<groups { flush(chunk: chunk, group: g) }
            for c in 0..<nc {
                gainSum[c] += gainSum[chunk * nc + c]
                shiftSum[c] += shiftSum[chunk * nc + c]
            }
        }
        for g in 0..<groups { flush(chunk: 0, group: g) }
        for c in 0..<nc {
            dGamma[c] += Float(gainSum[c])
            dBeta[c] += Float(shiftSum[c])
        }
        inputGradient.zeroPaddingRows(of: layout)
        return inputGradient
    }
}

/// Layer normalisation (Ba et al., 2016) over the feature axis of each row, biased variance:
/// y = (x − μ_row) / √(σ²_row + ε) · γ + β, with per-element γ (init 1) and β (init 0); `rectified`: followed
/// by a ReLU in the same sweep, y = max(0, …).
///
/// input/output [rows × features], channels last. Each real row is normalised on its own, so an
/// utterance's output does not depend on the rest of its batch. Parameters: `name.weight` (γ) and
/// `name.bias` (β), no weight decay.
final class LayerNorm: Layer {
    let features: Int
    private let kernel: GroupedNormalization

    init(_ features: Int, eps: Float = 1e-5, rectified: Bool = false, store: ParameterStore, name: String) {
        self.features = features
        kernel = GroupedNormalization(channels: features, groups: 1, eps: eps, blocks: .eachRealRow,
                                      rectified: rectified, store: store, name: name, kind: "LayerNorm")
    }

    var gain: Parameter { kernel.gain }
    var shift: Parameter { kernel.shift }

    func forward(_ input: Matrix, layout: SequenceBatch, training: Bool) -> Matrix {
        kernel.forward(input, layout: layout, kind: "LayerNorm")
    }

    func backward(_ gradOutput: Matrix) -> Matrix { kernel.backward(gradOutput, kind: "LayerNorm") }

    /// The output of the last forward (what the next layer received).
    var lastOutput: Matrix { kernel.output }

    /// y = the forward of one row [features] on its own (inference, frame by frame).
    func inferRow(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) { kernel.normalizeRow(x, into: y) }

    /// x̂ of the last forward into `result` [rows × features]; zeros on padding rows.
    func normalizedInput(into result: Matrix) { kernel.normalizedInput(into: result, kind: "LayerNorm") }
}

/// A per-channel affine normalisation y = x̂·γ + β (LayerNorm, BatchNorm) whose backward a following
/// `InputNormFolding` layer can take over: dγ and dβ need only x̂ and dL/dy, never dL/dx.
protocol FoldableNormalization: Layer {
    /// Channels normalised (columns of input and output).
    var channels: Int { get }
    var gain: Parameter { get }
    var shift: Parameter { get }
    /// The output of the last forward (what the next layer received).
    var lastOutput: Matrix { get }
    /// x̂ of the last forward (normalised with the statistics that forward used) into `result`
    /// [rows × channels]; zeros on padding rows.
    func normalizedInput(into result: Matrix)
}

extension LayerNorm: FoldableNormalization {
    var channels: Int { features }
}

/// A layer that can take over the backward pass of the normalisation feeding it when nobody needs the gradient
/// with respect to that normalisation's input (a network's input features): instead of forming dL/dy for the
/// norm's output y = x̂·γ + β (a product as large as the layer's forward) and running the norm's backward,
/// it accumulates its own parameter gradients and the norm's dγ, dβ directly from x̂. With BatchNorm in training
/// the batch statistics depend on the input, but dγ and dβ do not go through them, so the same holds.
///
/// With dh the layer's output gradient and a linear map h = y·Wᵀ + b (per tap for a convolution):
///
///     G = dhᵀ·x̂,  s = Σ_rows dh:   dW += G·diag(γ) + s·βᵀ,  db += s,
///     dγ[c] += Σ_o W[o, c]·G[o, c],  dβ[c] += Σ_o W[o, c]·s[o]
///
/// since dW = dhᵀ·y = dhᵀ·(x̂·diag(γ) + 1·βᵀ), and dL/dy = dh·W gives dγ = Σ_rows (dh·W) ⊙ x̂ and
/// dβ = Σ_rows dh·W.
protocol InputNormFolding: Layer {
    /// Accumulates this layer's and `norm`'s parameter gradients for the last forward, whose input must have been
    /// `norm`'s last output. Computes no input gradient.
    func backwardFoldingInputNorm(_ gradOutput: Matrix, norm: FoldableNormalization)
}

/// Group normalisation (Wu & He, 2018) over time: the channels are split into `groups` contiguous groups,
/// and each (utterance, group) is normalised over its channels × the utterance's real frames (biased
/// variance), then scaled and shifted per channel: y = x̂ · γ[c] + β[c] (`rectified`: max(0, …), the ReLU fused).
///
/// input/output [rows × channels], channels last, rows = utterances × padded frames. Padding frames are
/// not part of any statistic, so an utterance's output does not depend on its batch. Parameters:
/// `name.weight` (γ, init 1) and `name.bias` (β, init 0), no weight decay.
final class GroupNorm: Layer {
    let groups: Int
    let channels: Int
    private let kernel: GroupedNormalization

    init(groups: Int, channels: Int, eps: Float = 1e-5, rectified: Bool = false, store: ParameterStore,
                name: String) {
        self.groups = groups
        self.channels = channels
        kernel = GroupedNormalization(channels: channels, groups: groups, eps: eps, blocks: .eachUtterance,
                                      rectified: rectified, store: store, name: name, kind: "GroupNorm")
    }

    var gain: Parameter { kernel.gain }
    var shift: Parameter { kernel.shift }

    func forward(_ input: Matrix, layout: SequenceBatch, training: Bool) -> Matrix {
        kernel.forward(input, layout: layout, kind: "GroupNorm")
    }

    func backward(_ gradOutput: Matrix) -> Matrix { kernel.backward(gradOutput, kind: "GroupNorm") }
}

/// Instance normalisation (Ulyanov et al., 2016): GroupNorm with one channel per group, i.e. each channel
/// of each utterance normalised over the utterance's real frames, with a per-channel affine
/// (`name.weight`, `name.bias`; PyTorch's InstanceNorm1d has none by default, ours always does); `rectified`:
/// max(0, …), the ReLU fused.
///
/// input/output [rows × channels], channels last, rows = utterances × padded frames.
final class InstanceNorm: Layer {
    let channels: Int
    private let kernel: GroupedNormalization

    init(_ channels: Int, eps: Float = 1e-5, rectified: Bool = false, store: ParameterStore, name: String) {
        self.channels = channels
        kernel = GroupedNormalization(channels: channels, groups: channels, eps: eps, blocks: .eachUtterance,
                                      rectified: rectified, store: store, name: name, kind: "InstanceNorm")
    }

    var gain: Parameter { kernel.gain }
    var shift: Parameter { kernel.shift }

    func forward(_ input: Matrix, layout: SequenceBatch, training: Bool) -> Matrix {
        kernel.forward(input, layout: layout, kind: "InstanceNorm")
    }

    func backward(_ gradOutput: Matrix) -> Matrix { kernel.backward(gradOutput, kind: "InstanceNorm") }
}
