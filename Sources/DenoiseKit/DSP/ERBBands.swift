import Foundation

/// Triangular bands equally spaced on the ERB-rate scale, which pool a frame's per-bin log-power into per-band
/// log-power: the band (ERB-like) input of `MaskNetConfig.inputBands`.
///
/// ERB-rate (Glasberg & Moore 1990): E(f) = 21.4 · log10(1 + 0.00437 · f), f in Hz. Band b of N is centred at
/// E⁻¹(b · E(nyquist) / (N − 1)): the first at 0 Hz, the last at the Nyquist frequency, narrow at low frequencies
/// and wide at high ones, as the ear's critical bands are.
///
/// Centres sit on bins. Each is rounded to the nearest bin, then moved up to one bin above the previous centre when
/// it would land on or below it (the low bands, narrower than a bin, become one bin each), then down to where the
/// bands above it still have a bin each (so the last one is the Nyquist bin). Band b's weight rises linearly from 0
/// at the previous centre to 1 at its own and falls to 0 at the next; the first band is only the falling half,
/// the last only the rising one. So every bin's weights sum to 1 over the bands (a partition of unity: the bands
/// share out the whole power) and every band has weight 1 on its centre bin (no band is empty). Needs
/// 2 ≤ bands ≤ bins.
///
/// Pooling one frame: y_b = ln(Σ_k w_bk · P_k + 1e-10), with P_k = max(exp(x_k) − 1e-10, 0) the power of the per-bin
/// log-power x_k = ln(P_k + 1e-10) (`Features.logPower`): the same floor, so digital silence reads ln 1e-10 per band
/// as it does per bin (`MaskNet.silence`). The pooling has no parameters and nothing is learnt through it.
struct ERBBands: Equatable, Sendable {
    let bands: Int
    let bins: Int
    /// Bin of each band's centre: strictly increasing, the first 0, the last bins − 1.
    let centres: [Int]
    /// Band b's nonzero weights, for bins `firstBins[b] ..< firstBins[b] + counts[b]`, start at
    /// `weights[offsets[b]]`.
    private let firstBins: [Int]
    private let counts: [Int]
    private let offsets: [Int]
    private let weights: [Float]

    /// ERB-rate of `hz`, in ERBs.
    static func erbRate(hz: Double) -> Double { 21.4 * log10(1 + 0.00437 * hz) }

    /// The frequency in Hz whose ERB-rate is `erbs` (the inverse of `erbRate`).
    static func hz(erbRate erbs: Double) -> Double { (pow(10, erbs / 21.4) - 1) / 0.00437 }

    /// `bins` = n_fft / 2 + 1 bins from 0 Hz to `nyquistHz`.
    init(bands: Int, bins: Int, nyquistHz: Double) {
        precondition(bands >= 2 && bands <= bins, "ERBBands: \(bands) bands need 2...\(bins) (the bins)")
        precondition(nyquistHz > 0, "ERBBands: Nyquist frequency \(nyquistHz) Hz")
        self.bands = bands
        self.bins = bins
        let top = ERBBands.erbRate(hz: nyquistHz), binHz = nyquistHz / Double(bins - 1)
        var centres: [Int] = []
        for b in 0..<bands {
            let hz = b == bands - 1 ? nyquistHz : ERBBands.hz(erbRate: Double(b) * top / Double(bands - 1))
            let nearest = Int((hz / binHz).rounded())
            centres.append(b == 0 ? 0 : max(nearest, centres[b - 1] + 1))
        }
        for b in (0..<bands).reversed() { centres[b] = min(centres[b], bins - bands + b) }
        self.centres = centres

        var firstBins: [Int] = [], counts: [Int] = [], offsets: [Int] = [], weights: [Float] = []
        for b in 0..<bands {
            let centre = centres[b]
            let below = b > 0 ? centres[b - 1] : centre, above = b < bands - 1 ? centres[b + 1] : centre
            // Bins strictly between the neighbouring centres (where the weight is above 0), the centre included.
            firstBins.append(below + (b > 0 ? 1 : 0))
            offsets.append(weights.count)
            for k in firstBins[b]...centre where k < centre {
                weights.append(Float(k - below) / Float(centre - below))
            }
            weights.append(1)
            for k in (centre + 1)..<max(above, centre + 1) {
                weights.append(Float(above - k) / Float(above - centre))
            }
            counts.append(weights.count - offsets[b])
        }
        self.firstBins = firstBins
        self.counts = counts
        self.offsets = offsets
        self.weights = weights
    }

    /// w_bk: the share of bin `bin`'s power that goes to band `band`.
    func weight(band: Int, bin: Int) -> Float {
        let k = bin - firstBins[band]
        return k >= 0 && k < counts[band] ? weights[offsets[band] + k] : 0
    }

    /// Log band powers y [bands] of one frame's log bin powers x [bins], with `powers` [bins] the caller's scratch
    /// (the bins' powers P_k). Allocates nothing.
    ///
    /// Each bin's power is computed once, eight bins at a time with the vector exp2 (the input and streaming paths
    /// pool every frame, and each bin lies in two bands: computing it per band took twice the exps, and the scalar
    /// exp in bands narrower than eight bins); blocks holding a log power beyond ±80 (not from `Features.logPower`
    /// of finite audio) and the last bins take the scalar exp. Then each band is a dot product of its weights with
    /// the powers, and the logs of the band powers are vector logs, eight bands at a time.
    func pool(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, powers: UnsafeMutablePointer<Float>) {
        let floor = Features.logPowerFloor
        let floor8 = SIMD8<Float>(repeating: floor), zero = SIMD8<Float>(repeating: 0)
        var k = 0
        while k + 8 <= bins {
            let v = load8(x + k)
            var power: SIMD8<Float>
            if all((v .< 80) .& (v .> -80)) {
                power = RowKernel.exp2(v * 1.442_695_04) - floor8
            } else {
                power = zero
                for lane in 0..<8 { power[lane] = exp(v[lane]) - floor }
            }
            store8(power.replacing(with: 0, where: power .< 0), powers + k)
            k += 8
        }
        while k < bins {
            powers[k] = max(exp(x[k]) - floor, 0)
            k += 1
        }
        weights.withUnsafeBufferPointer { w in
            guard let w = w.baseAddress else { return }
            for b in 0..<bands {
                let bandPowers = powers + firstBins[b], bandW = w + offsets[b], count = counts[b]
                var sums = zero, i = 0
                while i + 8 <= count {
                    sums += load8(bandW + i) * load8(bandPowers + i)
                    i += 8
                }
                var sum = sums.sum()
                while i < count {
                    sum += bandW[i] * bandPowers[i]
                    i += 1
                }
                y[b] = sum + floor
            }
        }
        // The logs eight bands at a time too (sum + floor is positive and normal); the scalar log was 0.8% of apply.
        var b = 0
        while b + 8 <= bands {
            store8(RowKernel.log2(load8(y + b)) * 0.693_147_18, y + b)
            b += 8
        }
        while b < bands {
            y[b] = log(y[b])
            b += 1
        }
    }
}
