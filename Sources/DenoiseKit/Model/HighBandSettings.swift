import Foundation

/// How the band above a model's Nyquist frequency is treated when the input's rate is higher than the model's
/// (44.1 or 48 kHz audio through a 16 kHz model).
///
/// The network sees and masks 0 Hz up to the model's Nyquist frequency. Every bin above it gets one gain per frame:
/// the square root of the share of energy that the mask keeps in the reference band, from `referenceLowHz` up to
/// the crossover (power-weighted, so that bins with little energy count little). From the crossover to the model's
/// Nyquist frequency the gain blends linearly from the mask to that high-band gain: those top bins are the ones
/// that training audio, resampled to the model's rate, leaves nearly empty, so the mask there is the least sure.
/// With a mask of ones everywhere every gain is one, so the bands sum back to the input.
public struct HighBandSettings: Codable, Equatable, Sendable {
    /// Lower edge of the band whose masked energy sets the high band's gain, Hz.
    public var referenceLowHz: Double
    /// Where the blend from the mask to the high-band gain starts, as a fraction of the model's Nyquist frequency
    /// (0.9 is 7.2 kHz for a 16 kHz model: where the resampler's transition band, and sox's, begins).
    public var crossoverFraction: Double

    public init(referenceLowHz: Double = 4000, crossoverFraction: Double = 0.9) {
        self.referenceLowHz = referenceLowHz
        self.crossoverFraction = crossoverFraction
    }

    /// The defaults for a model at `sampleRate`: the reference band from half the model's Nyquist frequency (4 kHz
    /// for a 16 kHz model) up to the crossover at 0.9 of it.
    public init(sampleRate: Int) {
        self.init(referenceLowHz: Double(sampleRate) / 4)
    }

    /// The crossover frequency for a model at `sampleRate`, Hz.
    public func crossoverHz(sampleRate: Int) -> Double { crossoverFraction * Double(sampleRate) / 2 }

    /// Checks that the reference band lies inside the model's band, below the crossover.
    func validate(sampleRate: Int) throws {
        guard crossoverFraction > 0 && crossoverFraction <= 1,
              referenceLowHz >= 0 && referenceLowHz < crossoverHz(sampleRate: sampleRate) else {
            throw ModelFileError.invalidConfig("high band reference \(referenceLowHz) Hz to crossover at "
                                               + "\(crossoverFraction) of \(sampleRate / 2) Hz is not a band")
        }
    }
}
