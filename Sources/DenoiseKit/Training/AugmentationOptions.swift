import Foundation

/// How often each real-world condition is simulated, as shares of the remixed examples, with the defaults that
/// `denoise train` uses. Each share is drawn on its own, so conditions combine (a reverberant, narrowband, clipped
/// example happens, as on a speaker-phone call).
public struct AugmentationOptions: Codable, Equatable, Sendable {
    /// Reverberant speech with an early-reverberant target. A quarter: most users record close to the mouth, but
    /// rooms are the commonest condition the corpus lacks entirely.
    public var reverbShare: Float = 0.25
    /// Of the reverberant examples, the share that uses a measured response (when there are any); the rest are
    /// synthetic, so that a handful of measured rooms does not become all the model knows of rooms.
    public var measuredResponseShare: Float = 0.5
    /// Reverberation times of synthetic responses, seconds: from a furnished office to a large hall.
    public var rt60Range: ClosedRange<Double> = 0.2...1.0
    /// Direct-to-reverberant ratios of synthetic responses, dB: a far talker (−6) to a near one (+12).
    public var directToReverberantRange: ClosedRange<Double> = -6...12
    /// The whole mixture through 8 kHz sampling. A fifth: telephone and VoIP audio is common in use but the corpus
    /// is all wideband; more would spend the high band's training on nothing.
    public var narrowbandShare: Float = 0.2
    /// Of the narrowband examples, the share also coded with µ-law (G.711), as on the public telephone network.
    public var muLawShare: Float = 0.5
    /// Examples whose SNR is drawn from `lowSNRRange` instead of the run's SNR range. With the default −5…20 dB,
    /// a share of 0.3 raises the examples at −5…5 dB from 40% to 58%, where the model gains least.
    public var lowSNRShare: Float = 0.3
    public var lowSNRRange: ClosedRange<Float> = -5...5
    /// Examples whose speech is played faster or slower by a factor from `speedRange` (resampled, so pitch and
    /// formants move with the tempo, as they differ between talkers): the corpus has few voices, most of them
    /// prompts and digits, and a mask learnt on them meets other voices in use. The target is the same changed
    /// speech, and the example's length changes with it. Off by default (0), which also leaves the random draws of
    /// runs without it as they were.
    public var speedShare: Float = 0
    /// Tempo factors of `speedShare`, drawn uniformly, in steps of 0.01: ±10% moves formants about half as far as
    /// they lie apart between typical female and male talkers.
    public var speedRange: ClosedRange<Float> = 0.9...1.1
    /// Examples whose noise is two noises at once: a second one, drawn as the first is (any kind, another draw),
    /// `secondNoiseRangeDB` below it, before the sum is scaled to the example's SNR. Real backgrounds are rarely one
    /// source (traffic under a crowd, a fan under rain), and two clips make combinations no clip has alone. Off by
    /// default (0), which also leaves the random draws of runs without it as they were.
    public var secondNoiseShare: Float = 0
    /// How far the second noise's power lies below the first's, dB. Each further noise draws its own level in
    /// the same range, below the first noise too.
    public var secondNoiseRangeDB: ClosedRange<Float> = 0...10
    /// How many noises a `secondNoiseShare` example sums, the first included, drawn uniformly. Two by default; more
    /// make the dense beds of a street, a factory floor or a crowded station, where several sources fill each
    /// other's gaps and speech has least room. A single count (the default) leaves the random draws as they were.
    public var noiseSources: ClosedRange<Int> = 2...2
    /// Examples whose noise is coloured by `noiseEQFilters` random peaking filters, each `noiseEQRangeDB` at a
    /// centre between 100 Hz and 0.45 of the sampling rate, before it is scaled to the example's SNR. The same
    /// source sounds different through other walls, cars, microphones and rooms, and a few hundred clips are a few
    /// hundred spectra; the filters move their energy between the bands where speech lives. Off by default (0),
    /// which also leaves the random draws of runs without it as they were.
    public var noiseEQShare: Float = 0
    /// Gains of the noise filters, dB.
    public var noiseEQRangeDB: ClosedRange<Float> = -12...12
    /// How many filters colour one example's noise.
    public var noiseEQFilters: ClosedRange<Int> = 1...3
    /// Examples whose whole mixture (and target) is made louder or quieter by up to `levelRangeDB`: recording
    /// levels vary by that much, and the log-power input should not care.
    public var levelShare: Float = 0.5
    public var levelRangeDB: Float = 20
    /// Examples whose input is clipped (the target is not): overdriven microphones and sound cards. Rare in
    /// practice, so a tenth.
    public var clippingShare: Float = 0.1
    /// A clipped example is cut at this fraction of its peak.
    public var clippingLevelRange: ClosedRange<Float> = 0.2...0.7
    /// Examples that start with digital silence, input and target alike, as a stream, a recorder or a muted
    /// microphone does, so that the network has had exact zeros in its context. `Denoiser` no longer shows it an
    /// input's leading silence, so this serves the recipes that used it and silence after sound. Off by default
    /// (0), which also leaves the random draws of runs without it as they were.
    public var leadingSilenceShare: Float = 0
    /// Length of the leading silence, seconds: up to half a default crop.
    public var leadingSilenceRange: ClosedRange<Float> = 0.2...2
    /// Examples with a stretch of digital silence after sound, input and target alike: a microphone muted mid-call,
    /// a noise gate's pause, the end of a stream. It starts anywhere in the example, so some run off its end as
    /// trailing silence, which a model with look-ahead sees coming. Off by default (0), like leading silence.
    public var pauseSilenceShare: Float = 0
    /// Length of the pause, seconds: longer than the gaps between words, shorter than a crop.
    public var pauseSilenceRange: ClosedRange<Float> = 0.2...1.5

    public init() {}

    /// Shares that switch every condition above off: remixing as before these existed.
    public static let none: AugmentationOptions = {
        var options = AugmentationOptions()
        options.reverbShare = 0
        options.narrowbandShare = 0
        options.lowSNRShare = 0
        options.levelShare = 0
        options.clippingShare = 0
        return options
    }()

    /// Whether every share is a probability.
    public var isValid: Bool {
        [reverbShare, measuredResponseShare, narrowbandShare, muLawShare, lowSNRShare, speedShare, secondNoiseShare,
         noiseEQShare, levelShare, clippingShare, leadingSilenceShare, pauseSilenceShare]
            .allSatisfy { (0...1).contains($0) }
            && speedRange.lowerBound >= 0.5 && speedRange.upperBound <= 2
            && noiseSources.lowerBound >= 2
    }
}
