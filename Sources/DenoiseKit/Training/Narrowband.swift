import Foundation

/// Telephone and VoIP audio: the whole signal passed through 8 kHz sampling and, optionally, G.711 µ-law coding.
enum Narrowband {
    /// The sampling rate of telephone speech; everything above its 4 kHz Nyquist frequency is lost.
    static let telephoneRate = 8000
    /// µ of North American and Japanese G.711.
    static let mu: Float = 255
    /// Quantisation steps per polarity of an 8-bit code.
    static let levelsPerPolarity: Float = 127

    /// `x` (at `sampleRate`) resampled to 8 kHz and back, optionally µ-law coded at 8 kHz; same length as `x`.
    static func telephone(_ x: [Float], sampleRate: Int, muLaw: Bool = false) -> [Float] {
        guard sampleRate > telephoneRate else { return muLaw ? x.map(muLawRoundTrip) : x }
        var low = Resampler.resample(x, from: sampleRate, to: telephoneRate)
        if muLaw { low = low.map(muLawRoundTrip) }
        var back = Resampler.resample(low, from: telephoneRate, to: sampleRate)
        // ceil(ceil(n/2)·2) may exceed n by a sample.
        if back.count > x.count { back.removeLast(back.count - x.count) }
        while back.count < x.count { back.append(0) }
        return back
    }

    /// Encodes and decodes one sample with the µ-law curve y = sgn(x)·ln(1 + µ|x|)/ln(1 + µ), y quantised to 8
    /// bits. G.711 approximates this curve by 8 linear segments; the smooth curve has the same step sizes to within
    /// a few per cent, which is what matters here: steps of about 3% of the level for loud samples, 0.02% of full
    /// scale near zero. Values beyond ±1 are clipped, as an 8-bit code cannot hold them.
    static func muLawRoundTrip(_ x: Float) -> Float {
        let magnitude = min(abs(x), 1)
        let compressed = log1p(mu * magnitude) / log1p(mu)
        let quantised = (compressed * levelsPerPolarity).rounded() / levelsPerPolarity
        let expanded = (pow(1 + mu, quantised) - 1) / mu
        return x < 0 ? -expanded : expanded
    }
}
