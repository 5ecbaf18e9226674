import Foundation

// The normalisation layers' row kernels (LayerNorm, GroupNorm, InstanceNorm, the folded input norm), forward and
// backward, in the 8-lane style of `RowKernel` (Kernels/VectorKernels.swift).

extension RowKernel {
    /// Σ (x[i] − mean)², i < n.
    @inline(__always)
    static func centredSquares(_ x: UnsafePointer<Float>, _ n: Int, mean: Float) -> Float {
        let m8 = SIMD8<Float>(repeating: mean)
        var acc = SIMD8<Float>(repeating: 0), i = 0
        while i + 8 <= n {
            let d = load8(x + i) - m8
            acc += d * d
            i += 8
        }
        var s = acc.sum()
        while i < n {
            let d = x[i] - mean
            s += d * d
            i += 1
        }
        return s
    }

    /// y[i] = (x[i] − mean) · inv · γ[i] + β[i], i < n.
    @inline(__always)
    static func normalize(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, mean: Float,
                          inv: Float, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>) {
        let m8 = SIMD8<Float>(repeating: mean), i8 = SIMD8<Float>(repeating: inv)
        var i = 0
        while i + 8 <= n {
            store8((load8(x + i) - m8) * i8 * load8(gamma + i) + load8(beta + i), y + i)
            i += 8
        }
        while i < n {
            y[i] = (x[i] - mean) * inv * gamma[i] + beta[i]
            i += 1
        }
    }

    /// y[i] = max(0, (x[i] − mean) · inv · γ[i] + β[i]), i < n: a normalisation and the ReLU after it in one sweep.
    @inline(__always)
    static func normalizeRectified(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, mean: Float,
                                   inv: Float, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>) {
        let m8 = SIMD8<Float>(repeating: mean), i8 = SIMD8<Float>(repeating: inv), zero = SIMD8<Float>(repeating: 0)
        var i = 0
        while i + 8 <= n {
            let v = (load8(x + i) - m8) * i8 * load8(gamma + i) + load8(beta + i)
            store8(v.replacing(with: zero, where: v .<= zero), y + i)
            i += 8
        }
        while i < n {
            let v = (x[i] - mean) * inv * gamma[i] + beta[i]
            y[i] = v > 0 ? v : 0
            i += 1
        }
    }

    /// d[i] = y[i] > 0 ? dy[i] : 0, i < n: the ReLU's backward, from its output.
    @inline(__always)
    static func gate(_ dy: UnsafePointer<Float>, by y: UnsafePointer<Float>, into d: UnsafeMutablePointer<Float>,
                     _ n: Int) {
        let zero = SIMD8<Float>(repeating: 0)
        var i = 0
        while i + 8 <= n {
            store8(load8(dy + i).replacing(with: zero, where: load8(y + i) .<= zero), d + i)
            i += 8
        }
        while i < n {
            d[i] = y[i] > 0 ? dy[i] : 0
            i += 1
        }
    }

    /// y[i] = (x[i] − mean) · inv, i < n.
    @inline(__always)
    static func standardize(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, mean: Float,
                            inv: Float) {
        let m8 = SIMD8<Float>(repeating: mean), i8 = SIMD8<Float>(repeating: inv)
        var i = 0
        while i + 8 <= n {
            store8((load8(x + i) - m8) * i8, y + i)
            i += 8
        }
        while i < n {
            y[i] = (x[i] - mean) * inv
            i += 1
        }
    }

    /// For one row segment of a normalisation backward, with x̂ = (x − mean)·inv and g = dy·γ: returns
    /// (Σ g, Σ g·x̂) and adds dy·x̂ to dγ and dy to dβ, element by element.
    @inline(__always)
    static func normalizationSums(
        x: UnsafePointer<Float>, dy: UnsafePointer<Float>, _ n: Int, mean: Float, inv: Float,
        gamma: UnsafePointer<Float>, dGamma: UnsafeMutablePointer<Float>, dBeta: UnsafeMutablePointer<Float>
    ) -> (sumG: Float, sumGX: Float) {
        let m8 = SIMD8<Float>(repeating: mean), i8 = SIMD8<Float>(repeating: inv)
        var accG = SIMD8<Float>(repeating: 0), accGX = SIMD8<Float>(repeating: 0), i = 0
        while i + 8 <= n {
            let xhat = (load8(x + i) - m8) * i8, d = load8(dy + i)
            let g = d * load8(gamma + i)
            accG += g
            accGX += g * xhat
            store8(load8(dGamma + i) + d * xhat, dGamma + i)
            store8(load8(dBeta + i) + d, dBeta + i)
            i += 8
        }
        var sumG = accG.sum(), sumGX = accGX.sum()
        while i < n {
            let xhat = (x[i] - mean) * inv, d = dy[i]
            let g = d * gamma[i]
            sumG += g
            sumGX += g * xhat
            dGamma[i] += d * xhat
            dBeta[i] += d
            i += 1
        }
        return (sumG, sumGX)
    }

    /// dx[i] = inv · (dy[i]·γ[i] − meanG − x̂[i]·meanGX), x̂ = (x − mean)·inv, i < n.
    @inline(__always)
    static func normalizationInputGradient(
        x: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, _ n: Int, mean: Float,
        inv: Float, gamma: UnsafePointer<Float>, meanG: Float, meanGX: Float
    ) {
        let m8 = SIMD8<Float>(repeating: mean), i8 = SIMD8<Float>(repeating: inv)
        let g8 = SIMD8<Float>(repeating: meanG), gx8 = SIMD8<Float>(repeating: meanGX)
        var i = 0
        while i + 8 <= n {
            let xhat = (load8(x + i) - m8) * i8
            store8(i8 * (load8(dy + i) * load8(gamma + i) - g8 - xhat * gx8), dx + i)
            i += 8
        }
        while i < n {
            let xhat = (x[i] - mean) * inv
            dx[i] = inv * (dy[i] * gamma[i] - meanG - xhat * meanGX)
            i += 1
        }
    }

    /// One output row o of `InputNormFolding`: with g = G[o, ·], w = W[o, ·] and s = s[o], adds w·g to dγ and
    /// w·s to dβ, then turns g in place into that row's weight gradient g·γ + s·β. i < n.
    @inline(__always)
    static func foldInputNorm(
        weight w: UnsafePointer<Float>, g: UnsafeMutablePointer<Float>, s: Float, _ n: Int, gamma: UnsafePointer<Float>,
        beta: UnsafePointer<Float>, dGamma: UnsafeMutablePointer<Float>, dBeta: UnsafeMutablePointer<Float>
    ) {
        let s8 = SIMD8<Float>(repeating: s)
        var i = 0
        while i + 8 <= n {
            let w8 = load8(w + i), g8 = load8(g + i)
            store8(load8(dGamma + i) + w8 * g8, dGamma + i)
            store8(load8(dBeta + i) + w8 * s8, dBeta + i)
            store8(g8 * load8(gamma + i) + s8 * load8(beta + i), g + i)
            i += 8
        }
        while i < n {
            dGamma[i] += w[i] * g[i]
            dBeta[i] += w[i] * s
            g[i] = g[i] * gamma[i] + s * beta[i]
            i += 1
        }
    }
}
