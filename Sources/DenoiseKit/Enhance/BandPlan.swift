import Foundation

/// How audio at one sample rate meets a model trained at another: where the network's band lies in the input's
/// spectrum, and what happens to the rest of it.
///
/// - At or above the model's rate, the input is analysed at its own rate with frames as long as the model's: the
///   hop scaled by inputRate / modelRate to the nearest whole number of samples that has no prime factor above 13,
///   and nFFT twice that (1536 and 768 at 48 kHz, 1408 and 704 at 44.1 kHz, for a 512/256 model at 16 kHz). FFTW
///   transforms such sizes with its fixed codelets; a larger prime factor (706 = 2 · 353) sends it to a generic
///   algorithm that allocates at every transform, which a real-time host must not meet. Bin k then lies at
///   k · inputRate / nFFT Hz, within 0.3% of the model's bin k, so the network reads the first `modelBins` bins as
///   they are: nothing is resampled, and a mask of ones gives back the input to float precision. The bins above
///   get the high-band gain (`HighBandSettings`).
/// - Below the model's rate there is no band above the model's to keep: the input is resampled up to the model's
///   rate and the output back down.
struct BandPlan: Sendable {
    /// The STFT the denoiser runs: at the input's rate, or at the model's when `resampled`.
    let stft: STFTConfig
    let resampled: Bool
    /// Bins the network reads and masks: the model's.
    let modelBins: Int
    /// The factor that brings this STFT's amplitudes to those of the model's (a frame of more samples sums more
    /// of them): the model's nFFT over this one's. Nil at the model's rate.
    let featureScale: Float?
    /// Bins whose masked energy sets the high-band gain.
    let referenceBins: Range<Int>
    /// The first bin that blends from the mask towards the high-band gain; from it to `modelBins`, the weight of
    /// that gain per bin (rising to 1 at the model's Nyquist frequency).
    let crossoverStart: Int
    let crossoverWeights: [Float]

    /// True when the STFT has bins above the model's band.
    var hasHighBand: Bool { stft.bins > modelBins }

    init(model: DenoiseModel, inputRate: Int) {
        let modelSTFT = model.stft, modelRate = model.sampleRate
        modelBins = modelSTFT.bins
        resampled = inputRate < modelRate
        guard inputRate > modelRate else {
            stft = modelSTFT
            featureScale = nil
            referenceBins = 0..<0
            crossoverStart = modelBins
            crossoverWeights = []
            return
        }
        let ratio = Double(inputRate) / Double(modelRate)
        let hop = Self.smoothNear(Double(modelSTFT.hop) * ratio)
        stft = STFTConfig(nFFT: hop * modelSTFT.overlap, hop: hop, window: modelSTFT.window)

        featureScale = Float(modelSTFT.nFFT) / Float(stft.nFFT)

        let binHz = Double(modelRate) / Double(modelSTFT.nFFT)

        let nyquist = Double(modelRate) / 2
        let crossoverHz = model.highBand.crossoverHz(sampleRate: modelRate)
        crossoverStart = min(modelBins - 1, Int((crossoverHz / binHz).rounded(.up)))
        let span = max(nyquist - crossoverHz, binHz)
        crossoverWeights = (crossoverStart..<modelBins).map {
            Float(min(1, max(0, (Double($0) * binHz - crossoverHz) / span)))
        }
        let referenceStart = min(crossoverStart - 1, Int((model.highBand.referenceLowHz / binHz).rounded(.up)))
        referenceBins = max(0, referenceStart)..<crossoverStart
    }

    /// A whole number near `x` whose prime factors are all at most 13 (the sizes FFTW's codelets transform
    /// without scratch memory): searching outward from `x` rounded, the nearer side first. Such numbers lie a few
    /// apart at hop sizes; past 64 away the rounded value is kept.
    static func smoothNear(_ x: Double) -> Int {
        func isSmooth(_ n: Int) -> Bool {
            var rest = n
            for p in [2, 3, 5, 7, 11, 13] { while rest % p == 0 { rest /= p } }
            return rest == 1
        }
        let rounded = max(1, Int(x.rounded()))
        for distance in 0...64 {
            let sides = [rounded - distance, rounded + distance].filter { $0 >= 1 }
                .sorted { abs(Double($0) - x) < abs(Double($1) - x) }
            if let smooth = sides.first(where: isSmooth) { return smooth }
        }
        return rounded
    }
}
