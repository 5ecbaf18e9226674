import Foundation

/// Per-bin features of STFT frames and masking. Whole-spectrogram functions return row-major
/// `[frames × bins]` arrays; the pointer variants work on one frame of `bins` values into a caller
/// buffer, so the streaming denoiser allocates nothing.
enum Features {
    /// Added to the power before the logarithm, so that silent bins give ln(1e-10) ≈ −23 instead of −∞.
    static let logPowerFloor: Float = 1e-10

    /// ln(re² + im² + 1e-10) per bin, `[frames × bins]`.
    static func logPower(_ s: Spectrogram) -> [Float] {
        perBin(s) { re, im, out, count in logPower(real: re, imag: im, bins: count, into: out) }
    }

    /// √(re² + im²) per bin, `[frames × bins]`.
    static func magnitude(_ s: Spectrogram) -> [Float] {
        perBin(s) { re, im, out, count in magnitude(real: re, imag: im, bins: count, into: out) }
    }

    /// out[f] = ln(re[f]² + im[f]² + 1e-10) for f in 0..<bins, to within a few 10⁻⁷ relative. Call it per frame:
    /// the result for a bin depends (in the last ulp) on where it falls in the vector lanes.
    static func logPower(real: UnsafePointer<Float>, imag: UnsafePointer<Float>, bins: Int,
                                into out: UnsafeMutablePointer<Float>) {
        // Eight at a time with the vector log2 (the power is ≥ 1e-10, always in its range; infinities and NaN
        // go to the scalar log), then the tail.
        var f = 0
        let floor8 = SIMD8<Float>(repeating: logPowerFloor)
        while f + 8 <= bins {
            let re = load8(real + f), im = load8(imag + f)
            let power = re * re + im * im + floor8
            if all(power .<= Float.greatestFiniteMagnitude) {
                store8(0.693_147_18 * RowKernel.log2(power), out + f)
            } else {
                for lane in 0..<8 { out[f + lane] = log(power[lane]) }
            }
            f += 8
        }
        while f < bins {
            let re = real[f], im = imag[f]
            out[f] = log(re * re + im * im + logPowerFloor)
            f += 1
        }
    }

    /// out[f] = √(re[f]² + im[f]²) for f in 0..<bins.
    static func magnitude(real: UnsafePointer<Float>, imag: UnsafePointer<Float>, bins: Int,
                                 into out: UnsafeMutablePointer<Float>) {
        for f in 0..<bins {
            let re = real[f], im = imag[f]
            out[f] = (re * re + im * im).squareRoot()
        }
    }

    /// cos(θX − θS) per bin of two spectrograms of the same shape, `[frames × bins]`: how far a mask on X
    /// (which keeps X's phase) can line up with S. Bins where either is zero have no phase; they read 1.
    static func phaseCosine(_ x: Spectrogram, _ s: Spectrogram) -> [Float] {
        precondition(x.frames == s.frames && x.bins == s.bins,
                     "phaseCosine: spectrograms differ, \(x.frames)×\(x.bins) and \(s.frames)×\(s.bins)")
        return (0 ..< x.frames * x.bins).map { i in
            let xr = x.real[i], xi = x.imag[i], sr = s.real[i], si = s.imag[i]
            let norms = ((xr * xr + xi * xi) * (sr * sr + si * si)).squareRoot()
            guard norms > 1e-30 else { return 1 }
            return min(1, max(-1, (xr * sr + xi * si) / norms))
        }
    }

    /// Multiplies both parts of one frame by a real mask: X[f] ← M[f] · X[f] for f in 0..<bins.
    static func applyMask(_ mask: UnsafePointer<Float>, real: UnsafeMutablePointer<Float>,
                                 imag: UnsafeMutablePointer<Float>, bins: Int) {
        for f in 0..<bins {
            real[f] *= mask[f]
            imag[f] *= mask[f]
        }
    }

    /// Multiplies frame `frame` of `s` by a real mask of `s.bins` values.
    static func applyMask(_ mask: UnsafePointer<Float>, to s: inout Spectrogram, frame: Int) {
        precondition(frame >= 0 && frame < s.frames, "frame \(frame) is outside 0..<\(s.frames)")
        let bins = s.bins, offset = frame * s.bins
        s.real.withUnsafeMutableBufferPointer { re in
            s.imag.withUnsafeMutableBufferPointer { im in
                guard let reBase = re.baseAddress, let imBase = im.baseAddress else { return }
                applyMask(mask, real: reBase + offset, imag: imBase + offset, bins: bins)
            }
        }
    }

    /// Multiplies every frame of `s` by a real mask laid out `[frames × bins]`.
    static func applyMask(_ mask: [Float], to s: inout Spectrogram) {
        precondition(mask.count == s.frames * s.bins,
                     "mask has \(mask.count) values, the spectrogram \(s.frames)×\(s.bins) needs \(s.frames * s.bins)")
        let count = mask.count
        mask.withUnsafeBufferPointer { m in
            s.real.withUnsafeMutableBufferPointer { re in
                s.imag.withUnsafeMutableBufferPointer { im in
                    guard let mBase = m.baseAddress, let reBase = re.baseAddress, let imBase = im.baseAddress
                    else { return }
                    applyMask(mBase, real: reBase, imag: imBase, bins: count)
                }
            }
        }
    }

    /// Runs a per-bin kernel over the whole spectrogram, frame by frame (the layouts match element for element).
    private static func perBin(
        _ s: Spectrogram,
        _ kernel: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void
    ) -> [Float] {
        let count = s.frames * s.bins
        var out = [Float](repeating: 0, count: count)
        s.real.withUnsafeBufferPointer { re in
            s.imag.withUnsafeBufferPointer { im in
                out.withUnsafeMutableBufferPointer { o in
                    guard let reBase = re.baseAddress, let imBase = im.baseAddress, let oBase = o.baseAddress
                    else { return }
                    // Frame by frame, so that each frame's values are exactly what the per-frame call gives
                    // (the vector kernels split a frame into the same lanes and tail either way).
                    for t in 0..<s.frames {
                        let offset = t * s.bins
                        kernel(reBase + offset, imBase + offset, oBase + offset, s.bins)
                    }
                }
            }
        }
        return out
    }
}
