import Foundation

extension Loss {
    /// Binary cross-entropy of probabilities σ(z) against targets y in [0, 1], from the logits z (as PyTorch's
    /// `BCEWithLogitsLoss`): mean over real rows × columns, written in the form that stays finite for any z.
    ///
    ///     L = (1/N) Σ [max(z, 0) − z·y + ln(1 + e^(−|z|))],   dL/dz = (σ(z) − y)/N,   N = real rows × columns
    ///
    /// `gradient` is resized to the logits' shape and receives `weight`·dL/dz (zero on padding rows). Returns
    /// `weight`·L: the term as it enters the loss, matching its gradient.
    static func binaryCrossEntropy(logits: Matrix, targets: Matrix, layout: SequenceBatch, weight: Float = 1,
                                          gradient: Matrix) -> Float {
        checkShapes(logits, targets, layout: layout, loss: "binaryCrossEntropy")
        let cols = logits.cols
        gradient.resize(rows: logits.rows, cols: cols)
        gradient.zero()
        let n = layout.realFrames * cols
        guard n > 0 else { return 0 }
        let scale = weight / Float(n)
        var sum = 0.0
        layout.forEachRealRowRange { rows in
            for i in rows.lowerBound * cols ..< rows.upperBound * cols {
                let z = logits.data[i], y = targets.data[i]
                sum += Double(max(z, 0) - z * y + log1p(exp(-abs(z))))
                gradient.data[i] = scale * (1 / (1 + exp(-z)) - y)
            }
        }
        return weight * Float(sum / Double(n))
    }
}
