import Foundation

/// Mixing speech with noise at a chosen signal-to-noise ratio, the way the corpus in `../shared/data` was made:
/// `noisy = clean + g · noise`, with g such that 10·log10(P_clean / P_{g·noise}) = snrDB, where P is the mean
/// square over the whole clip.
enum Mixing {
    /// P = (1/n) Σ x², accumulated in Double; 0 for an empty signal.
    static func meanSquare(_ x: [Float]) -> Float { Float(power(x)) }

    /// Mean square in Double, so that the gain is not rounded twice.
    private static func power(_ x: [Float]) -> Double {
        guard !x.isEmpty else { return 0 }
        let sum = x.withUnsafeBufferPointer { samples in
            var sum = 0.0
            for value in samples { sum += Double(value) * Double(value) }
            return sum
        }
        return sum / Double(x.count)
    }

    /// `noise` looped (or cropped) to `clean.count` samples and scaled by g = √(P_clean / (P_noise · 10^(snrDB/10))),
    /// so that 10·log10(P_clean / P_result) = snrDB.
    ///
    /// Silent or empty noise, or silent clean speech, cannot reach a finite SNR: the result is then all zeros
    /// (never NaN).
    static func scaleNoise(_ noise: [Float], toSNR snrDB: Float, against clean: [Float]) -> [Float] {
        let count = clean.count
        guard count > 0 else { return [] }
        guard !noise.isEmpty else { return [Float](repeating: 0, count: count) }
        var fitted = [Float](repeating: 0, count: count)
        for i in 0..<count { fitted[i] = noise[i % noise.count] }
        let cleanPower = power(clean)
        let noisePower = power(fitted)
        guard noisePower > 0, cleanPower > 0 else { return [Float](repeating: 0, count: count) }
        let gain = Float((cleanPower / (noisePower * pow(10, Double(snrDB) / 10))).squareRoot())
        for i in 0..<count { fitted[i] *= gain }
        return fitted
    }

    /// clean + scaleNoise(noise, toSNR: snrDB, against: clean), `clean.count` samples.
    static func mix(clean: [Float], noise: [Float], snrDB: Float) -> [Float] {
        var mixed = scaleNoise(noise, toSNR: snrDB, against: clean)
        for i in 0..<mixed.count { mixed[i] += clean[i] }
        return mixed
    }
}
