import Foundation

/// Short-time objective intelligibility (C. H. Taal, R. C. Hendriks, R. Heusdens, J. Jensen, "An Algorithm for
/// Intelligibility Prediction of Time–Frequency Weighted Noisy Speech", IEEE TASLP 19(7), 2011), following the
/// authors' MATLAB reference step by step; scores lie in [−1, 1], typically 0.4 ... 1, higher is more intelligible.
///
/// 1. Both signals are cropped to the shorter length and resampled to 10 kHz (`Resampler`).
/// 2. Silent frames are removed: 256-sample frames every 128 samples (starts 0, 128, ... < n − 256), times a Hann
///    window w[n] = ½(1 − cos(2π(n+1)/257)) (MATLAB's `hanning(256)`); frames whose clean energy
///    20·log10(‖w·x_frame‖ + ε) is not above the loudest clean frame's minus 40 dB are dropped from both signals,
///    and the kept windowed frames are overlap-added at hop 128 ((kept − 1)·128 + 256 samples).
/// 3. STFT of each: the same framing and window, zero-padded to 512 points (`RealFFT`), 257 bins.
/// 4. 15 one-third-octave bands, centres 150·2^(k/3) Hz; band k sums the power of bins [lo_k, hi_k), where lo_k
///    and hi_k are the bins nearest to 150·2^((2k−1)/6) and 150·2^((2k+1)/6) Hz; envelope X_k(t) = √(Σ |X(f, t)|²).
/// 5. For every segment of N = 30 consecutive frames (384 ms) ending at frames N ... T, and every band, the
///    processed envelope y is scaled to the clean one's energy and clipped to a signal-to-distortion floor of
///    β = −15 dB: y' = min(y·‖x‖/‖y‖, x·(1 + 10^(−β/20))); the score is the correlation of x and y'
///    (means removed, each divided by its norm).
/// 6. Each band's score is the mean of its correlations over the segments (`bandScores`); STOI is the mean of the
///    15 band scores, which is the mean over all bands and segments, as every band has the same segments.
///
/// As in `pystoi`, ε = 2.2e-16 is added to the norms that divide, so silent bands give 0 instead of NaN. All
/// accumulations are in Double; the FFT is single precision.
public enum STOI {
    /// The rate STOI is defined at.
    public static let sampleRate = STOIConstants.sampleRate
    /// Returned when fewer than N = 30 STFT frames remain after silence removal (less than about 0.4 s of
    /// speech; `bandScores` gives nil): the measure is undefined there. 1e-5, as `pystoi`, so that averages stay
    /// finite.
    static let tooShortScore = 1e-5

    private static let frameLength = 256          // 25.6 ms at 10 kHz
    private static let hop = STOIConstants.hop    // 50% overlap
    private static let fftSize = 512
    private static let bandCount = 15
    private static let lowestCentre = 150.0       // Hz
    private static let segmentFrames = STOIConstants.segmentFrames
    private static let beta = -15.0               // lower SDR bound, dB
    private static let eps = Double.ulpOfOne

    /// Centre frequencies of the 15 one-third-octave bands, 150·2^(k/3) Hz for k = 0 ..< 15 (150 Hz to 3.81 kHz),
    /// in the order of `bandScores`.
    public static let bandCentresHz: [Double] = (0..<bandCount).map { lowestCentre * pow(2, Double($0) / 3) }

    /// STOI of `processed` against `clean`, both at `sampleRate` Hz (compared over the shorter length).
    static func compute(clean: [Float], processed: [Float], sampleRate rate: Int) -> Double {
        score(bandScores: bandScores(clean: clean, processed: processed, sampleRate: rate))
    }

    /// STOI from the scores of `bandScores`: their mean, or `tooShortScore` when there are none.
    static func score(bandScores: [Double]?) -> Double {
        guard let bandScores, !bandScores.isEmpty else { return tooShortScore }
        return bandScores.reduce(0, +) / Double(bandScores.count)
    }

    /// For each band of `bandCentresHz`, the mean over the 30-frame segments of the clipped correlation of step 5
    /// (1 where `processed` has the clean envelope up to a gain); nil when fewer than N = 30 frames remain after
    /// silence removal. Arguments as `compute`.
    static func bandScores(clean: [Float], processed: [Float], sampleRate rate: Int) -> [Double]? {
        let n = min(clean.count, processed.count)
        var x = Array(clean.prefix(n))
        var y = Array(processed.prefix(n))
        if rate != sampleRate {
            x = Resampler.resample(x, from: rate, to: sampleRate)
            y = Resampler.resample(y, from: rate, to: sampleRate)
        }
        let (xSpeech, ySpeech) = removeSilentFrames(clean: x, processed: y)
        let window = hannWindow()
        let fft = RealFFT(size: fftSize)
        let bands = bandEdges()
        let xBands = bandEnvelopes(xSpeech, window: window, fft: fft, bands: bands)
        let yBands = bandEnvelopes(ySpeech, window: window, fft: fft, bands: bands)
        let frames = xBands.count / bandCount
        guard frames >= segmentFrames else { return nil }
        return bandCorrelations(xBands, yBands, frames: frames)
    }

    /// MATLAB's `hanning(256)`: symmetric, without the zero end points.
    private static func hannWindow() -> [Double] {
        (0..<frameLength).map { 0.5 * (1 - cos(2 * Double.pi * Double($0 + 1) / Double(frameLength + 1))) }
    }

    /// Start of every analysis frame: 0, hop, 2·hop, ... < n − frameLength (the reference's framing).
    private static func frameStarts(_ n: Int) -> StrideTo<Int> { stride(from: 0, to: n - frameLength, by: hop) }

    /// Step 2: both signals with the frames where the clean one is more than 40 dB below its loudest frame removed.
    private static func removeSilentFrames(clean x: [Float], processed y: [Float]) -> ([Double], [Double]) {
        let window = hannWindow()
        let starts = Array(frameStarts(x.count))
        guard !starts.isEmpty else { return ([], []) }
        let energies = starts.map { start -> Double in
            var sum = 0.0
            for i in 0..<frameLength {
                let value = window[i] * Double(x[start + i])
                sum += value * value
            }
            return 20 * log10(sum.squareRoot() + eps)
        }
        let threshold = (energies.max() ?? 0) - STOIConstants.dynamicRange
        let kept = starts.indices.filter { energies[$0] > threshold }
        let length = (kept.count - 1) * hop + frameLength
        var xOut = [Double](repeating: 0, count: length)
        var yOut = [Double](repeating: 0, count: length)
        for (slot, frame) in kept.enumerated() {
            let source = starts[frame], target = slot * hop
            for i in 0..<frameLength {
                xOut[target + i] += window[i] * Double(x[source + i])
                yOut[target + i] += window[i] * Double(y[source + i])
            }
        }
        return (xOut, yOut)
    }

    /// Step 4: half-open bin ranges [lo, hi) of the one-third-octave bands on the `fftSize`-point grid at `rate`
    /// (STOI's own: 512 points at 10 kHz). On a grid whose top lies below a band, the band ends at the last bin.
    static func bandEdges(sampleRate rate: Int = sampleRate, fftSize: Int = fftSize) -> [Range<Int>] {
        let binCount = fftSize / 2 + 1
        let binWidth = Double(rate) / Double(fftSize)
        func nearestBin(_ frequency: Double) -> Int {
            var best = 0
            var bestDistance = Double.infinity
            for bin in 0..<binCount {
                let distance = (Double(bin) * binWidth - frequency) * (Double(bin) * binWidth - frequency)
                if distance < bestDistance { best = bin; bestDistance = distance }     // first minimum wins
            }
            return best
        }
        return (0..<bandCount).map { k in
            let low = nearestBin(lowestCentre * pow(2, Double(2 * k - 1) / 6))
            let high = nearestBin(lowestCentre * pow(2, Double(2 * k + 1) / 6))
            return low..<max(low, high)
        }
    }

    /// Steps 3–4: band envelopes, laid out [frame × band] (band fastest), one row per STFT frame.
    private static func bandEnvelopes(_ signal: [Double], window: [Double], fft: RealFFT,
                                      bands: [Range<Int>]) -> [Double] {
        let starts = Array(frameStarts(signal.count))
        var envelopes = [Double](repeating: 0, count: starts.count * bandCount)
        var frame = [Float](repeating: 0, count: fftSize)          // zero padding stays zero
        var spectrum = [Float](repeating: 0, count: 2 * fft.bins)
        var power = [Double](repeating: 0, count: fft.bins)
        for (t, start) in starts.enumerated() {
            for i in 0..<frameLength { frame[i] = Float(window[i] * signal[start + i]) }
            frame.withUnsafeBufferPointer { input in
                spectrum.withUnsafeMutableBufferPointer { output in
                    guard let source = input.baseAddress, let target = output.baseAddress else { return }
                    fft.forward(source, target)
                }
            }
            for bin in 0..<fft.bins {
                let re = Double(spectrum[2 * bin]), im = Double(spectrum[2 * bin + 1])
                power[bin] = re * re + im * im
            }
            for (k, band) in bands.enumerated() {
                var sum = 0.0
                for bin in band { sum += power[bin] }
                envelopes[t * bandCount + k] = sum.squareRoot()
            }
        }
        return envelopes
    }

    /// Steps 5–6: for each band, the mean over the 30-frame segments of the correlation between the clean envelope
    /// and the normalised, clipped processed envelope.
    private static func bandCorrelations(_ xBands: [Double], _ yBands: [Double], frames: Int) -> [Double] {
        let clipFactor = 1 + pow(10, -beta / 20)
        let segments = frames - segmentFrames + 1
        var x = [Double](repeating: 0, count: segmentFrames)
        var y = [Double](repeating: 0, count: segmentFrames)
        var totals = [Double](repeating: 0, count: bandCount)
        for segment in 0..<segments {
            for band in 0..<bandCount {
                var xEnergy = 0.0, yEnergy = 0.0
                for i in 0..<segmentFrames {
                    x[i] = xBands[(segment + i) * bandCount + band]
                    y[i] = yBands[(segment + i) * bandCount + band]
                    xEnergy += x[i] * x[i]
                    yEnergy += y[i] * y[i]
                }
                let scale = xEnergy.squareRoot() / (yEnergy.squareRoot() + eps)
                var xMean = 0.0, yMean = 0.0
                for i in 0..<segmentFrames {
                    y[i] = min(y[i] * scale, x[i] * clipFactor)
                    xMean += x[i]
                    yMean += y[i]
                }
                xMean /= Double(segmentFrames)
                yMean /= Double(segmentFrames)
                var xNorm = 0.0, yNorm = 0.0, cross = 0.0
                for i in 0..<segmentFrames {
                    let a = x[i] - xMean, b = y[i] - yMean
                    xNorm += a * a
                    yNorm += b * b
                    cross += a * b
                }
                totals[band] += cross / ((xNorm.squareRoot() + eps) * (yNorm.squareRoot() + eps))
            }
        }
        return totals.map { $0 / Double(segments) }
    }
}
