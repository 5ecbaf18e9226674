/// A small, fast, seedable generator (xoshiro256**), so that initialisation, dropout masks,
/// shuffling and augmentation are reproducible from one seed and its state can be checkpointed.
public struct RandomGenerator: RandomNumberGenerator, Sendable, Equatable {
    private(set) var state: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        // SplitMix64 spreads any seed (even 0) over the four state words.
        var s = seed
        func splitMix() -> UInt64 {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    /// Restores a generator from `stateWords` (as saved in a checkpoint).
    init(stateWords: [UInt64]) {
        precondition(stateWords.count == 4, "RandomGenerator state has 4 words")
        state = (stateWords[0], stateWords[1], stateWords[2], stateWords[3])
    }

    var stateWords: [UInt64] { [state.0, state.1, state.2, state.3] }

    public mutating func next() -> UInt64 {
        let result = rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotl(state.3, 45)
        return result
    }

    /// Uniform in [0, 1), 24 bits of precision.
    mutating func uniform() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// Uniform in [low, high).
    mutating func uniform(_ low: Float, _ high: Float) -> Float { low + (high - low) * uniform() }

    /// In [low, high), evenly spread in log: as many draws per octave anywhere, as frequencies want.
    mutating func logUniform(_ low: Float, _ high: Float) -> Float {
        Float(Foundation.exp(Double(uniform(Foundation.log(low), Foundation.log(high)))))
    }

    /// Standard normal sample (Box–Muller).
    public mutating func normal() -> Float {
        let u1 = max(Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0), 1e-300)
        let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        return Float((-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2))
    }

    public static func == (a: RandomGenerator, b: RandomGenerator) -> Bool { a.stateWords == b.stateWords }

    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}

import Foundation
@inline(__always) private func _log(_ x: Double) -> Double { Foundation.log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Foundation.cos(x) }
