/// Gradient clipping over the whole model, as `torch.nn.utils.clip_grad_norm_`.
enum GradientClipping {
    /// Scales all gradients of `store` by min(1, maxNorm / (‖g‖₂ + 1e-6)) and returns ‖g‖₂ before
    /// clipping (the norm over every scalar gradient, summed in Double).
    ///
    /// Unlike PyTorch, a non-finite norm leaves the gradients untouched (PyTorch would turn them into
    /// NaN); the caller sees the returned norm and can skip the step.
    @discardableResult
    static func clipNorm(_ store: ParameterStore, maxNorm: Float) -> Float {
        precondition(maxNorm > 0, "the maximum gradient norm must be > 0, got \(maxNorm)")
        let g = store.gradients, n = store.count
        var sumOfSquares: Double = 0
        for i in 0..<n {
            let x = Double(g[i])
            sumOfSquares += x * x
        }
        let norm = Float(sumOfSquares.squareRoot())
        guard norm.isFinite else { return norm }
        // PyTorch's 1e-6 keeps the factor finite for a zero gradient and just below 1 at the limit.
        let factor = maxNorm / (norm + 1e-6)
        if factor < 1 {
            for i in 0..<n { g[i] *= factor }
        }
        return norm
    }
}
