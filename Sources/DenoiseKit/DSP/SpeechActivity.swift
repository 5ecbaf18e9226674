import Foundation

/// Which frames of a clean recording hold speech: the label the speech-probability head is trained on (binary
/// cross-entropy) and scored against (ROC AUC in `eval`).
///
/// A frame is speech when its level is within `rangeDB` (40 dB) of the recording's loud frames and above
/// `floorDBFS` (−60 dBFS). The loud level is the 99th percentile of the frame levels, a maximum that a few clicks
/// cannot set; the floor keeps a recording of near silence from being labelled speech throughout. A frame's level
/// is the mean square of its windowed samples (window energy normalised; 0 dBFS is a full-scale square wave, −3 a
/// full-scale sine), read off its spectrum by Parseval, so the same frames as the network's are labelled.
enum SpeechActivity {
    /// How far below the loud frames a frame still counts as speech, dB: quiet consonants and word endings are
    /// 20–35 dB below the vowels, the pauses of a clean recording farther down.
    static let rangeDB = 40.0
    /// Frames quieter than this are never speech, dBFS.
    static let floorDBFS = -60.0
    /// The percentile of the frame levels taken as the recording's loud level.
    static let loudPercentile = 0.99

    /// 1 (speech) or 0 for each frame of `spectrum`, the STFT (`config`) of a clean recording.
    static func labels(_ spectrum: Spectrogram, config: STFTConfig) -> [Float] {
        labels(frameLevels: frameLevels(spectrum, config: config))
    }

    /// 1 (speech) or 0 for each STFT frame (`config`) of the clean recording `clean`.
    static func labels(clean: [Float], config: STFTConfig) -> [Float] {
        labels(STFT(config: config).analyze(clean), config: config)
    }

    /// 1 (speech) or 0 per frame, from the frames' levels in dBFS.
    static func labels(frameLevels levels: [Double]) -> [Float] {
        guard !levels.isEmpty else { return [] }
        let sorted = levels.sorted()
        let rank = min(sorted.count - 1, max(0, Int((loudPercentile * Double(sorted.count)).rounded(.up)) - 1))
        let threshold = max(sorted[rank] - rangeDB, floorDBFS)
        return levels.map { $0 >= threshold ? 1 : 0 }
    }

    /// Level of each frame, dBFS: 10·log10(2·Σ|X|² / (N·Σw²)) over the one-sided spectrum, which by Parseval is
    /// the frame's windowed mean square relative to the window's (silence gives −200).
    static func frameLevels(_ spectrum: Spectrogram, config: STFTConfig) -> [Double] {
        let windowEnergy = Window.make(config.window, size: config.nFFT).reduce(0.0) { $0 + Double($1 * $1) }
        let scale = 2 / (Double(config.nFFT) * windowEnergy), bins = spectrum.bins
        return (0..<spectrum.frames).map { t in
            var power = 0.0
            for k in t * bins ..< (t + 1) * bins {
                power += Double(spectrum.real[k] * spectrum.real[k] + spectrum.imag[k] * spectrum.imag[k])
            }
            return 10 * log10(max(power * scale, 1e-20))
        }
    }
}
