import Foundation

// Row kernels for the element-wise layers: explicit 8-lane SIMD so that reductions vectorise (the compiler
// may not reorder a scalar Float sum) and so that plain maps do not depend on the auto-vectoriser proving
// that pointers do not overlap. Every kernel takes raw pointers and a count; tails run scalar.
//
// Accuracy: a sum over n values is kept in 8 Float lanes, each adding about n/8 values, and the lanes are
// added at the end. Callers keep n to one row (≤ a few thousand values) and add rows in Double.

@inline(__always)
func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always)
func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

enum RowKernel {
    /// Σ x[i], i < n.
    @inline(__always)
    static func sum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD8<Float>(repeating: 0), i = 0
        while i + 8 <= n {
            acc += load8(x + i)
            i += 8
        }
        var s = acc.sum()
        while i < n {
            s += x[i]
            i += 1
        }
        return s
    }

    /// y[i] = min(y[i], x[i]), i < n.
    @inline(__always)
    static func formMinimum(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + 8 <= n {
            // A compare and a blend; the standard library's pointwiseMin is an uninlined generic call here.
            let current = load8(y + i), candidate = load8(x + i)
            store8(current.replacing(with: candidate, where: candidate .< current), y + i)
            i += 8
        }
        while i < n {
            y[i] = min(y[i], x[i])
            i += 1
        }
    }

    /// y[i] = x[i] · scale[i] + offset[i], i < n.
    @inline(__always)
    static func affine(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int,
                       scale: UnsafePointer<Float>, offset: UnsafePointer<Float>) {
        var i = 0
        while i + 8 <= n {
            store8(load8(x + i) * load8(scale + i) + load8(offset + i), y + i)
            i += 8
        }
        while i < n {
            y[i] = x[i] * scale[i] + offset[i]
            i += 1
        }
    }

    /// z[i] = x[i] + y[i], i < n.
    @inline(__always)
    static func add(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, into z: UnsafeMutablePointer<Float>,
                    _ n: Int) {
        var i = 0
        while i + 8 <= n {
            store8(load8(x + i) + load8(y + i), z + i)
            i += 8
        }
        while i < n {
            z[i] = x[i] + y[i]
            i += 1
        }
    }

    /// s[i] += x[i], i < n.
    @inline(__always)
    static func accumulate(_ x: UnsafePointer<Float>, into s: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + 8 <= n {
            store8(load8(s + i) + load8(x + i), s + i)
            i += 8
        }
        while i < n {
            s[i] += x[i]
            i += 1
        }
    }

    /// x[i] = x[i]^c in place, i < n, for x ≥ 0: the vector power where it is accurate, `Foundation.pow` for
    /// blocks holding subnormals or out-of-range lanes. Masks (x in [0, 1]) raised to a positive c, what the
    /// denoiser does to every bin of every frame, take `maskPower`, which needs no range check per lane.
    static func raise(_ x: UnsafeMutablePointer<Float>, _ n: Int, to c: Float) {
        var i = 0
        while i + 8 <= n {
            let v = load8(x + i)
            store8(c > 0 && isMask(v) ? maskPower(v, c) : checkedPower(v, c), x + i)
            i += 8
        }
        while i < n {
            x[i] = Foundation.pow(x[i], c)
            i += 1
        }
    }

    /// Whether every lane is 0 or a normal number up to 1.
    @inline(__always)
    static func isMask(_ x: SIMD8<Float>) -> Bool {
        all(((x .>= Float.leastNormalMagnitude) .| (x .== 0)) .& (x .<= 1))
    }

    /// x^c for lanes that are 0 or normal up to 1 (`isMask`) and c > 0: 2^(c·log2 x), as `power`, except that a lane
    /// whose power is below 2⁻¹²⁵ (x = 0 among them) gives 0, within 3·10⁻³⁸ of `Foundation.pow`.
    @inline(__always)
    static func maskPower(_ x: SIMD8<Float>, _ c: Float) -> SIMD8<Float> {
        let zero = x .== 0
        let y = c * log2(x.replacing(with: 1, where: zero))
        let vanishing = zero .| (y .< -125)
        return exp2(y.replacing(with: 0, where: vanishing)).replacing(with: 0, where: vanishing)
    }

    /// x^c for x ≥ 0: `power` when every lane is in its range, else `Foundation.pow` lane by lane.
    @inline(__always)
    static func checkedPower(_ x: SIMD8<Float>, _ c: Float) -> SIMD8<Float> {
        if powerInRange(x, c) { return power(x, c) }
        var result = x
        for lane in 0..<8 { result[lane] = Foundation.pow(x[lane], c) }
        return result
    }

    /// x^c for positive, finite x: 2^(c·log2 x), relative error a few 10⁻⁷ (a few ulp) while |c·log2 x| < 120;
    /// lanes outside that range are left to `Foundation.pow`-equivalent scalar code by the caller (see
    /// `powerInRange`).
    @inline(__always)
    static func power(_ x: SIMD8<Float>, _ c: Float) -> SIMD8<Float> { exp2(c * log2(x)) }

    /// log2 x for positive, finite, normal x, absolute error about 10⁻⁷·|log2 x|: log2 x = e + ln(m)/ln 2 with
    /// x = m·2^e, m in [√½, √2), ln m = 2·atanh((m − 1)/(m + 1)) to the 9th power.
    @inline(__always)
    static func log2(_ x: SIMD8<Float>) -> SIMD8<Float> {
        let bits = unsafeBitCast(x, to: SIMD8<Int32>.self)
        var e = ((bits &>> 23) & 0xff) &- 127
        var m = unsafeBitCast((bits & 0x007f_ffff) | 0x3f80_0000, to: SIMD8<Float>.self)
        let high = m .> 1.414_213_6
        m.replace(with: m * 0.5, where: high)
        e.replace(with: e &+ 1, where: high)
        let t = (m - 1) / (m + 1), t2 = t * t
        var series = SIMD8<Float>(repeating: 1 / 9)
        series = series * t2 + 1 / 7
        series = series * t2 + 1 / 5
        series = series * t2 + 1 / 3
        series = series * t2 + 1
        // Int32 → Float through the bits of 1.5·2²³ + k (exact for |k| < 2²²): the generic SIMD conversions
        // are not vectorised.
        let eFloat = unsafeBitCast(magicBits &+ e, to: SIMD8<Float>.self) - magic
        return eFloat + (2 * 1.442_695_04) * t * series
    }

    /// 2^y for |y| < 126 (a normal result), relative error a few 10⁻⁷: 2^n·2^f with n = round(y), |f| ≤ ½,
    /// 2^f by its Taylor series to the 8th term.
    @inline(__always)
    static func exp2(_ y: SIMD8<Float>) -> SIMD8<Float> {
        // Round to nearest by adding 1.5·2²³ (no rounding instruction before SSE4.1); its bits hold n.
        let shifted = y + magic
        let n = shifted - magic
        let nInt = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- magicBits
        let f = (y - n) * 0.693_147_18
        var p = SIMD8<Float>(repeating: 1 / 40320)
        p = p * f + 1 / 5040
        p = p * f + 1 / 720
        p = p * f + 1 / 120
        p = p * f + 1 / 24
        p = p * f + 1 / 6
        p = p * f + 0.5
        p = p * f + 1
        p = p * f + 1
        let scaled = unsafeBitCast(p, to: SIMD8<Int32>.self) &+ (nInt &<< 23)
        return unsafeBitCast(scaled, to: SIMD8<Float>.self)
    }

    private static let magic = SIMD8<Float>(repeating: 12_582_912)
    private static let magicBits = SIMD8<Int32>(repeating: 0x4B40_0000)

    /// Whether `power(x, c)` is accurate for every lane of x: all positive, finite and normal, and |c·log2 x| < 120.
    @inline(__always)
    static func powerInRange(_ x: SIMD8<Float>, _ c: Float) -> Bool {
        let normal = (x .>= Float.leastNormalMagnitude) .& (x .<= Float.greatestFiniteMagnitude)
        guard all(normal) else { return false }
        // |log2 x| ≤ 128 for normal x, so |c|·128 < 120 settles it at once; otherwise look at the exponents
        // (log2 x lies in [e, e + 1)).
        if abs(c) * 128 < 120 { return true }
        let e = (unsafeBitCast(x, to: SIMD8<Int32>.self) &>> 23) &- 127
        let limit = Int32(min(119 / abs(c), 1000).rounded(.down))
        return all((e .< limit) .& (e .> -limit))
    }
}
