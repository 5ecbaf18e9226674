import Foundation

/// Training losses over padded batches. Every matrix is [rows × columns] laid out as `layout` says;
/// only real rows count, the mean is over real rows × columns, and padding rows of the gradient are zero.
/// Sums run in Double. An empty batch (no real rows) has loss 0 and a zero gradient.
enum Loss {
    /// Added to magnitudes before compression in `spectral`: d(u^c)/du = c·u^(c−1) is infinite at u = 0
    /// for c < 1, while c·(u + ε)^(c−1) stays below c·ε^(c−1) (≈ 1.2·10⁵ for c = 0.3). 10⁻⁸ is far
    /// below any magnitude that matters in 16-bit or float audio, so it changes no loss visibly.
    static let spectralEpsilon: Float = 1e-8

    /// Mean of (p - t)² over real rows × columns; writes dL/dp into `gradient` (resized), zero on padded rows.
    ///
    ///     L = (1/N) Σ (p − t)²,   dL/dp = 2(p − t)/N,   N = real rows × columns
    static func maskedMSE(prediction: Matrix, target: Matrix, layout: SequenceBatch,
                                 gradient: Matrix) -> Float {
        checkShapes(prediction, target, layout: layout, loss: "maskedMSE")
        let cols = prediction.cols
        gradient.resize(rows: prediction.rows, cols: cols)
        let n = layout.realFrames * cols
        guard n > 0 else {
            gradient.zero()
            return 0
        }
        let scale = 2 / Float(n)
        let sum = sumOverRealRows(layout, columns: cols) { start, count in
            let p = prediction.data + start, t = target.data + start, g = gradient.data + start
            var sum = 0.0
            for i in 0..<count {
                let d = p[i] - t[i]
                sum += Double(d * d)
                g[i] = scale * d
            }
            return sum
        }
        gradient.zeroPaddingRows(of: layout)
        return Float(sum / Double(n))
    }

    /// Spectral loss on compressed spectra: mean over real rows × bins of the distance between (m·|X|)^c and
    /// |S|^c, c = 0.3 default; gradient w.r.t. the mask m.
    ///
    /// With `phaseWeight` α > 0 the distance mixes in the complex one: the masked noisy bin keeps the noisy
    /// phase, so `(1 − α)·|a − b|² + α·|a·e^{iθX} − b·e^{iθS}|²`, which penalises energy left in bins whose
    /// phase is wrong (the compressed magnitude-plus-complex loss). With a = (m·|X| + ε)^c, b = (|S| + ε)^c
    /// (ε = `spectralEpsilon`, so that a perfect magnitude still gives zero loss when α = 0 and the derivative
    /// stays finite where m·|X| = 0) and w = 1 − α + α·cos(θX − θS) (`phaseCosine`), this is
    ///
    ///     e = a − w·b,   L = (1/N) Σ [e² + (1 − w²)·b²],
    ///     dL/dm = (2/N) · e · c · (m·|X| + ε)^(c−1) · |X|,   N = real rows × bins
    ///
    /// (α = 0 is the magnitude loss (a − b)²). `mask`, `noisyMagnitude`, `cleanMagnitude` and `phaseCosine`
    /// are [rows × bins]; magnitudes must be ≥ 0 and the mask ≥ 0 (the sigmoid output). `gradient` is resized
    /// to [rows × bins]; zero on padding rows.
    static func spectral(mask: Matrix, noisyMagnitude: Matrix, cleanMagnitude: Matrix, layout: SequenceBatch,
                                compression: Float = 0.3, phaseCosine: Matrix? = nil, phaseWeight: Float = 0,
                                gradient: Matrix) -> Float {
        checkShapes(mask, noisyMagnitude, cleanMagnitude, layout: layout, loss: "spectral")
        precondition(compression > 0, "spectral loss needs a positive compression exponent, got \(compression)")
        precondition((0...1).contains(phaseWeight),
                     "spectral loss: phase weight must lie in [0, 1], got \(phaseWeight)")
        precondition(phaseWeight == 0 || phaseCosine != nil, "spectral loss: a phase weight needs phaseCosine")
        // Read (and so checked) only when it counts: a batch filled without phases passes an empty matrix.
        if phaseWeight > 0, let phaseCosine { checkShapes(mask, phaseCosine, layout: layout, loss: "spectral") }
        let cols = mask.cols
        gradient.resize(rows: mask.rows, cols: cols)
        let n = layout.realFrames * cols
        guard n > 0 else {
            gradient.zero()
            return 0
        }
        let c = compression, eps = spectralEpsilon, scale = 2 * compression / Float(n)
        let alpha = phaseWeight, phase = phaseWeight > 0 ? phaseCosine : nil
        let sum = sumOverRealRows(layout, columns: cols) { start, count in
            let m = mask.data + start, x = noisyMagnitude.data + start, s = cleanMagnitude.data + start
            let cosine = phase.map { $0.data + start }
            let g = gradient.data + start
            // Eight at a time with the vector power, then the tail.
            var sum = 0.0, i = 0
            let eps8 = SIMD8<Float>(repeating: eps)
            while i + 8 <= count {
                let u = load8(m + i) * load8(x + i) + eps8, target = load8(s + i) + eps8
                let compressed = RowKernel.checkedPower(u, c), targetCompressed = RowKernel.checkedPower(target, c)
                var e = compressed - targetCompressed
                if let cosine {
                    let w = (1 - alpha) + alpha * load8(cosine + i)
                    e = compressed - w * targetCompressed
                    sum += Double(((1 - w * w) * targetCompressed * targetCompressed).sum())
                }
                sum += Double((e * e).sum())
                // (u)^(c−1) = u^c / u: one power per element instead of two.
                store8(scale * e * (compressed / u) * load8(x + i), g + i)
                i += 8
            }
            while i < count {
                let u = m[i] * x[i] + eps
                let compressed = Foundation.pow(u, c), targetCompressed = Foundation.pow(s[i] + eps, c)
                let w = cosine.map { (1 - alpha) + alpha * $0[i] } ?? 1
                let e = compressed - w * targetCompressed
                sum += Double(e * e + (1 - w * w) * targetCompressed * targetCompressed)
                g[i] = scale * e * (compressed / u) * x[i]
                i += 1
            }
            return sum
        }
        gradient.zeroPaddingRows(of: layout)
        return Float(sum / Double(n))
    }

    /// Σ over the real rows of `body(first element, element count)` for contiguous runs of real rows, the runs
    /// split across threads for large batches (`Parallel`); chunk sums are added in chunk order.
    private static func sumOverRealRows(_ layout: SequenceBatch, columns: Int,
                                        _ body: (_ start: Int, _ count: Int) -> Double) -> Double {
        let chunks = layout.parallelism.chunks(elements: layout.realFrames * columns)
        return withUnsafeTemporaryAllocation(of: Double.self, capacity: chunks) { sums in
            sums.initialize(repeating: 0)
            layout.forEachRealRowPiece(chunks: chunks) { chunk, rows in
                sums[chunk] += body(rows.lowerBound * columns, rows.count * columns)
            }
            return sums.reduce(0, +)
        }
    }

    static func checkShapes(_ first: Matrix, _ second: Matrix, _ third: Matrix? = nil,
                                    layout: SequenceBatch, loss: String) {
        precondition(first.rows == layout.rows, "\(loss): \(first.rows) rows but the layout has \(layout.rows)")
        func sameShape(_ m: Matrix) {
            precondition(m.rows == first.rows && m.cols == first.cols,
                         "\(loss): shapes differ, \(first.rows)×\(first.cols) and \(m.rows)×\(m.cols)")
        }
        sameShape(second)
        if let third { sameShape(third) }
    }
}
