import Foundation

/// A second-order IIR section (RBJ audio-EQ cookbook coefficients), direct form I.
struct Biquad {
    var b0, b1, b2, a1, a2: Float

    static func lowPass(cutoff: Float, q: Float, sampleRate: Int) -> Biquad {
        let w = 2 * Float.pi * cutoff / Float(sampleRate), alpha = sin(w) / (2 * q), c = cos(w)
        let a0 = 1 + alpha
        return Biquad(b0: (1 - c) / 2 / a0, b1: (1 - c) / a0, b2: (1 - c) / 2 / a0,
                      a1: -2 * c / a0, a2: (1 - alpha) / a0)
    }

    /// Constant 0 dB peak gain band-pass.
    static func bandPass(centre: Float, q: Float, sampleRate: Int) -> Biquad {
        let w = 2 * Float.pi * centre / Float(sampleRate), alpha = sin(w) / (2 * q), c = cos(w)
        let a0 = 1 + alpha
        return Biquad(b0: alpha / a0, b1: 0, b2: -alpha / a0, a1: -2 * c / a0, a2: (1 - alpha) / a0)
    }

    /// A peaking equaliser: `gainDB` at `centre`, falling back to 0 dB away from it (exactly at DC and Nyquist),
    /// over a width set by `q`.
    static func peaking(centre: Float, gainDB: Float, q: Float, sampleRate: Int) -> Biquad {
        let w = 2 * Float.pi * centre / Float(sampleRate), alpha = sin(w) / (2 * q), c = cos(w)
        let a = Float(pow(10, Double(gainDB) / 40))
        let a0 = 1 + alpha / a
        return Biquad(b0: (1 + alpha * a) / a0, b1: -2 * c / a0, b2: (1 - alpha * a) / a0,
                      a1: -2 * c / a0, a2: (1 - alpha / a) / a0)
    }

    func apply(_ x: inout [Float], passes: Int = 1) {
        for _ in 0..<passes {
            var x1: Float = 0, x2: Float = 0, y1: Float = 0, y2: Float = 0
            for i in x.indices {
                let y = b0 * x[i] + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2
                x2 = x1; x1 = x[i]; y2 = y1; y1 = y
                x[i] = y
            }
        }
    }
}
