/// The constants of STOI (Taal et al. 2011) that the training's intelligibility term shares with the metric
/// (`STOI` in Metrics/), kept in the leaf so that NN/ need not depend on Metrics/.
enum STOIConstants {
    /// The rate STOI is defined at.
    static let sampleRate = 10_000
    /// Analysis hop at `sampleRate`: 12.8 ms.
    static let hop = 128
    /// N: envelopes are correlated over segments of this many frames (384 ms).
    static let segmentFrames = 30
    /// Frames more than this many dB below the loudest clean frame count as silence.
    static let dynamicRange = 40.0

    /// The length of the segments whose envelopes are correlated, seconds.
    static var segmentDuration: Double { Double(segmentFrames * hop) / Double(sampleRate) }
}
