/// 1-D convolution over time (the rows of each utterance), "same" or causal padding, optional dilation.
///
///     same:   y[t, o] = b[o] + Σ_{c, j} W[o, c, j] · x[t + (j − (k−1)/2)·d, c]
///     causal: y[t, o] = b[o] + Σ_{c, j} W[o, c, j] · x[t + (j − (k−1))·d, c]
///
/// (cross-correlation, as PyTorch's Conv1d with padding d·(k−1)/2; causal is that with all the padding on the
/// left, so frame t sees frames t − (k−1)·d … t and nothing later). Frames outside the utterance's
/// real frames count as zeros, so neither padding rows nor neighbouring utterances leak in.
///
/// input [rows × Cin], weight [Cout × Cin × k] (PyTorch layout), bias [Cout], output [rows × Cout];
/// channels last, rows = utterances × padded frames. Initialised like PyTorch: W and b uniform in
/// ±1/√(Cin·k).
///
/// Implementation: one sgemm per tap and utterance on shifted row views, no im2col copy. Tap j reads the
/// input `offset(j)` rows away ((j − (k−1)/2)·d, or (j − (k−1))·d when causal), so within an utterance of L real
/// frames it contributes
///
///     y[t] += x[t + offset(j)] · W_jᵀ   for t in max(0, −offset) ..< min(L, L − offset)
///
/// with W_j [Cout × Cin] the tap's weights (kept tap-major, [k × Cout × Cin]); frames outside that range
/// would read outside the utterance (zeros), so they get nothing from that tap. Padding rows are never read.
final class Conv1d: Layer {
    let inChannels: Int
    let outChannels: Int
    let kernelSize: Int
    let dilation: Int
    /// Frame t sees only frames up to t (all padding on the left).
    let causal: Bool
    let weight: Parameter
    let bias: Parameter

    private let output = Matrix(rows: 0, cols: 0)
    private let inputGradient = Matrix(rows: 0, cols: 0)
    // Cached by forward for backward: the input (a reference, not a copy: it belongs to the layer below
    // and stays unchanged until the next forward), the weights in tap-major order [k × Cout × Cin] as used
    // by that forward, and the layout. Inference keeps the tap-major weights while the store's generation
    // stays `tapMajorGeneration` (nil: rebuild at the next forward; training always rebuilds).
    private var input: Matrix?
    private let tapMajorWeight: Matrix
    private var tapMajorGeneration: Int?
    private var layout = SequenceBatch.single(frames: 0)
    // Scratch for backward: dW in tap-major order; for `backwardFoldingInputNorm`, also s_j = Σ dy over the
    // frames each tap reaches [k × Cout].
    private let tapMajorWeightGradient: Matrix
    private let tapGradientSums = Matrix(rows: 0, cols: 0)
    // With the utterances split across threads (see `threadGroups`), groups after the first sum their dW (and
    // for the fold, their s_j) and db here, added in group order afterwards.
    private var groupWeightGradients: [Matrix] = []
    private var groupTapSums: [Matrix] = []
    private let groupBiasGradients = Matrix(rows: 0, cols: 0)

    init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, dilation: Int = 1, causal: Bool = false,
                store: ParameterStore, name: String, rng: inout RandomGenerator) {
        precondition(inChannels > 0 && outChannels > 0,
                     "Conv1d '\(name)' needs positive channel counts, got \(inChannels) → \(outChannels)")
        precondition(kernelSize > 0 && (causal || kernelSize % 2 == 1),
                     "Conv1d '\(name)' needs an odd kernel size for 'same' padding, got \(kernelSize)")
        precondition(dilation > 0, "Conv1d '\(name)' needs a positive dilation, got \(dilation)")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.dilation = dilation
        self.causal = causal
        let bound = 1 / Float(inChannels * kernelSize).squareRoot()
        weight = store.add("\(name).weight", shape: [outChannels, inChannels, kernelSize], decays: true) { _ in
            rng.uniform(-bound, bound)
        }
        bias = store.add("\(name).bias", shape: [outChannels], decays: false) { _ in rng.uniform(-bound, bound) }
        tapMajorWeight = Matrix(rows: kernelSize * outChannels, cols: inChannels)
        tapMajorWeightGradient = Matrix(rows: kernelSize * outChannels, cols: inChannels)
    }

    /// The tap that reads the output's own frame: the middle one, or the last when causal.
    private var centreTap: Int { causal ? kernelSize - 1 : (kernelSize - 1) / 2 }

    /// Row offset of tap j relative to the output frame.
    @inline(__always) private func offset(ofTap j: Int) -> Int { (j - centreTap) * dilation }

    /// Calls `body(j, t, count, offset)` for every tap j whose shifted view overlaps the utterance of
    /// `length` real frames: output frames t ..< t + count read input frames t + offset ..< t + count + offset.
    /// The centre tap (offset 0, all frames) comes first.
    @inline(__always)
    private func forEachTap(length: Int, _ body: (_ j: Int, _ t: Int, _ count: Int, _ offset: Int) -> Void) {
        let centre = centreTap
        body(centre, 0, length, 0)
        for j in 0..<kernelSize where j != centre {
            let d = offset(ofTap: j), first = max(0, -d), end = min(length, length - d)
            if end > first { body(j, first, end - first, d) }
        }
    }

    /// The utterances split into runs, one per thread when the batch's parallelism allows several and it is large
    /// enough to share out; each thread then runs its utterances' products on one BLAS thread.
    private func threadGroups(_ layout: SequenceBatch) -> [Range<Int>] {
        layout.utteranceGroups(min(layout.parallelism.chunks(elements: layout.realFrames * outChannels), layout.batch))
    }

    /// Calls `body(group, b)` for every utterance b with real frames: the groups concurrently, each on one BLAS
    /// thread, the utterances of a group in order.
    private func forEachUtterance(in groups: [Range<Int>], of layout: SequenceBatch,
                                  _ body: (_ group: Int, _ b: Int) -> Void) {
        Parallel.runWithSingleThreadedProducts(groups.count) { group in
            for b in groups[group] where layout.lengths[b] > 0 { body(group, b) }
        }
    }

    /// Zeroed room for groups 1..<count: a tap-major [k·Cout × Cin] dW each, `tapSums` ([k × Cout]) each when
    /// asked, and one db row each.
    private func prepareGroupGradients(_ count: Int, tapSums: Bool) {
        let extra = count - 1
        while groupWeightGradients.count < extra {
            groupWeightGradients.append(Matrix(rows: kernelSize * outChannels, cols: inChannels))
        }
        while tapSums && groupTapSums.count < extra { groupTapSums.append(Matrix(rows: kernelSize, cols: outChannels)) }
        for g in 0..<extra {
            groupWeightGradients[g].zero()
            if tapSums { groupTapSums[g].zero() }
        }
        groupBiasGradients.resize(rows: max(extra, 1), cols: outChannels)
        groupBiasGradients.zero()
    }

    /// Adds what groups 1..<count summed into the first group's buffers (and db into the bias gradient), in order.
    private func addGroupGradients(_ count: Int, tapSums: Bool) {
        for g in 0..<(count - 1) {
            RowKernel.accumulate(groupWeightGradients[g].data, into: tapMajorWeightGradient.data,
                                 tapMajorWeightGradient.count)
            if tapSums {
                RowKernel.accumulate(groupTapSums[g].data, into: tapGradientSums.data, tapGradientSums.count)
            } else {
                RowKernel.accumulate(groupBiasGradients.row(g), into: bias.gradient, outChannels)
            }
        }
    }

    func forward(_ input: Matrix, layout: SequenceBatch, training: Bool) -> Matrix {
        checkLayerInput(input, layout: layout, features: inChannels, layer: "Conv1d")
        self.input = input
        self.layout = layout
        let k = kernelSize, cin = inChannels, cout = outChannels, tapSize = cout * cin

        // W[o, c, j] → tapMajor[j, o, c]: reading W in order and writing k sequential streams (reading it once
        // per tap with stride k cost a few percent of inference). Repeated inference calls on unchanged
        // weights reuse the last reordering, another 4% of `apply`.
        let wt = tapMajorWeight.data
        let generation = weight.store.generation
        if training || tapMajorGeneration != generation {
            let w = weight.values
            for i in 0..<tapSize {
                let src = w + i * k
                for j in 0..<k { wt[j * tapSize + i] = src[j] }
            }
        }
        tapMajorGeneration = training ? nil : generation

        // Bias first on the real rows, then every tap's product accumulated onto it (beta 1).
        output.resize(rows: input.rows, cols: cout)
        let bias = self.bias.values, frames = layout.frames, output = self.output
        forEachUtterance(in: threadGroups(layout), of: layout) { _, b in
            let base = b * frames
            let y = output.row(base)
            for t in 0..<layout.lengths[b] { (y + t * cout).update(from: bias, count: cout) }
            forEachTap(length: layout.lengths[b]) { j, t, count, d in
                BLAS.gemm(transB: true, m: count, n: cout, k: cin, a: input.row(base + t + d), lda: cin,
                          b: wt + j * tapSize, ldb: cin, beta: 1, c: y + t * cout, ldc: cout)
            }
        }
        output.zeroPaddingRows(of: layout)
        return output
    }

    func backward(_ gradOutput: Matrix) -> Matrix {
        guard let x = input else { preconditionFailure("Conv1d.backward called before forward") }
        let cin = inChannels, cout = outChannels, tapSize = cout * cin
        let rows = x.rows
        precondition(gradOutput.rows == rows && gradOutput.cols == cout,
                     "Conv1d.backward: gradient is \(gradOutput.rows)×\(gradOutput.cols), expected \(rows)×\(cout)")
        let dy = gradOutput.data, wt = tapMajorWeight.data, dWt = tapMajorWeightGradient.data
        let db = bias.gradient, frames = layout.frames

        // Per utterance and tap, over the frames where the tap is inside the utterance (so padding rows of
        // dy, which may hold anything, never enter):
        //   dW_j += dy[t ..]ᵀ · x[t + offset ..],   dx[t + offset ..] += dy[t ..] · W_j.
        // The centre tap covers every real frame, so it initialises dx (beta 0).
        tapMajorWeightGradient.zero()
        inputGradient.resize(rows: rows, cols: cin)
        let groups = threadGroups(layout), inputGradient = self.inputGradient
        prepareGroupGradients(groups.count, tapSums: false)
        let groupWeightGradients = self.groupWeightGradients, groupBiasGradients = self.groupBiasGradients
        forEachUtterance(in: groups, of: layout) { group, b in
            // Each group its own dW and db; dx rows belong to one utterance, so groups never share them.
            let dW = group == 0 ? dWt : groupWeightGradients[group - 1].data
            let dBias = group == 0 ? db : groupBiasGradients.row(group - 1)
            let base = b * frames, length = layout.lengths[b]
            forEachTap(length: length) { j, t, count, d in
                let g = dy + (base + t) * cout
                BLAS.gemm(transA: true, m: cout, n: cin, k: count, a: g, lda: cout, b: x.row(base + t + d),
                          ldb: cin, beta: 1, c: dW + j * tapSize, ldc: cin)
                BLAS.gemm(m: count, n: cin, k: cout, a: g, lda: cout, b: wt + j * tapSize, ldb: cin,
                          beta: d == 0 ? 0 : 1, c: inputGradient.row(base + t + d), ldc: cin)
            }
            for r in 0..<length { RowKernel.accumulate(dy + (base + r) * cout, into: dBias, cout) }
        }
        addGroupGradients(groups.count, tapSums: false)
        inputGradient.zeroPaddingRows(of: layout)

        addTapMajorWeightGradient()
        return inputGradient
    }

    /// dW[o, c, j] += tapMajorWeightGradient[j, o, c].
    private func addTapMajorWeightGradient() {
        let k = kernelSize, tapSize = outChannels * inChannels
        let dW = weight.gradient, dWt = tapMajorWeightGradient.data
        for j in 0..<k {
            let src = dWt + j * tapSize
            for i in 0..<tapSize { dW[i * k + j] += src[i] }
        }
    }
}

extension Conv1d: InputNormFolding {
    /// Per tap j, over the frames t where the tap stays inside the utterance: G_j = Σ dy[t]ᵀ·x̂[t + offset],
    /// s_j = Σ dy[t]; then each tap is a linear map as in `InputNormFolding`, and db = s of the centre tap.
    func backwardFoldingInputNorm(_ gradOutput: Matrix, norm: FoldableNormalization) {
        guard let x = input else { preconditionFailure("Conv1d.backwardFoldingInputNorm called before forward") }
        precondition(x === norm.lastOutput, "Conv1d.backwardFoldingInputNorm: the last input was not the norm's output")
        let k = kernelSize, cin = inChannels, cout = outChannels, tapSize = cout * cin
        precondition(norm.channels == cin && gradOutput.rows == x.rows && gradOutput.cols == cout,
                     "Conv1d.backwardFoldingInputNorm: gradient is \(gradOutput.rows)×\(gradOutput.cols), "
                         + "expected \(x.rows)×\(cout)")
        let dy = gradOutput.data, frames = layout.frames
        // x̂ goes where the input gradient would (none is computed on this path).
        let xhat = inputGradient
        norm.normalizedInput(into: xhat)
        tapMajorWeightGradient.zero()
        tapGradientSums.resize(rows: k, cols: cout)
        tapGradientSums.zero()
        let g = tapMajorWeightGradient.data
        let groups = threadGroups(layout)
        prepareGroupGradients(groups.count, tapSums: true)
        let groupWeightGradients = self.groupWeightGradients, groupTapSums = self.groupTapSums
        let tapGradientSums = self.tapGradientSums
        forEachUtterance(in: groups, of: layout) { group, b in
            let gG = group == 0 ? g : groupWeightGradients[group - 1].data
            let sums = group == 0 ? tapGradientSums : groupTapSums[group - 1]
            let base = b * frames
            forEachTap(length: layout.lengths[b]) { j, t, count, d in
                let dyT = dy + (base + t) * cout
                BLAS.gemm(transA: true, m: cout, n: cin, k: count, a: dyT, lda: cout, b: xhat.row(base + t + d),
                          ldb: cin, beta: 1, c: gG + j * tapSize, ldc: cin)
                let s = sums.row(j)
                for r in 0..<count { RowKernel.accumulate(dyT + r * cout, into: s, cout) }
            }
        }
        addGroupGradients(groups.count, tapSums: true)
        let wt = tapMajorWeight.data
        for j in 0..<k {
            let s = tapGradientSums.row(j)
            for o in 0..<cout {
                let i = j * tapSize + o * cin
                RowKernel.foldInputNorm(weight: wt + i, g: g + i, s: s[o], cin, gamma: norm.gain.values,
                                        beta: norm.shift.values, dGamma: norm.gain.gradient, dBeta: norm.shift.gradient)
            }
        }
        RowKernel.accumulate(tapGradientSums.row(centreTap), into: bias.gradient, cout)
        addTapMajorWeightGradient()
    }
}
