import Foundation

/// Energy-ratio quality measures of an estimate ŝ against a reference s, in dB (higher is better).
///
/// All sums are accumulated in Double. When the two signals differ in length, both are compared over the shorter
/// one (the first min(count) samples). A tiny ε = 1e-10 (against energies of order 10² for a second of speech)
/// keeps the ratios finite: a perfect estimate scores a large finite value instead of +∞, silent inputs 0 dB.
public enum SignalMetrics {
    private static let epsilon = 1e-10

    /// Scale-invariant signal-to-distortion ratio (Le Roux et al., 2019). Both signals are made zero-mean, then
    ///
    ///     α = ⟨s, ŝ⟩ / ‖s‖²,   SI-SDR = 10·log10(‖α s‖² / ‖α s − ŝ‖²).
    ///
    /// Multiplying the estimate by any nonzero constant leaves it unchanged.
    public static func siSDR(reference: [Float], estimate: [Float]) -> Double {
        let n = min(reference.count, estimate.count)
        guard n > 0 else { return 0 }
        var referenceMean = 0.0, estimateMean = 0.0
        for i in 0..<n {
            referenceMean += Double(reference[i])
            estimateMean += Double(estimate[i])
        }
        referenceMean /= Double(n)
        estimateMean /= Double(n)
        var cross = 0.0, referenceEnergy = 0.0
        for i in 0..<n {
            let s = Double(reference[i]) - referenceMean
            cross += s * (Double(estimate[i]) - estimateMean)
            referenceEnergy += s * s
        }
        let alpha = cross / (referenceEnergy + epsilon)
        var targetEnergy = 0.0, errorEnergy = 0.0
        for i in 0..<n {
            let target = alpha * (Double(reference[i]) - referenceMean)
            let error = target - (Double(estimate[i]) - estimateMean)
            targetEnergy += target * target
            errorEnergy += error * error
        }
        return 10 * log10((targetEnergy + epsilon) / (errorEnergy + epsilon))
    }

    /// Signal-to-noise ratio, no mean removal nor scaling: 10·log10(‖s‖² / ‖s − ŝ‖²).
    public static func snr(reference: [Float], estimate: [Float]) -> Double {
        let n = min(reference.count, estimate.count)
        var signalEnergy = 0.0, noiseEnergy = 0.0
        for i in 0..<n {
            let s = Double(reference[i])
            let e = s - Double(estimate[i])
            signalEnergy += s * s
            noiseEnergy += e * e
        }
        return 10 * log10((signalEnergy + epsilon) / (noiseEnergy + epsilon))
    }

    /// Frame length of the segmental SNR, seconds (Loizou's `comp_snr`, Hansen & Pellom 1998).
    static let segmentDuration = 0.030
    /// Per-frame SNRs are clamped to this range, dB, so that silent frames neither dominate nor vanish.
    static let segmentSNRRange: ClosedRange<Double> = -10...35

    /// Segmental SNR as in Loizou's composite-measure toolbox (`comp_snr`): frames of 30 ms
    /// (round(0.030 · sampleRate) samples) every quarter frame (75% overlap), each multiplied by a Hann window
    /// w[n] = ½(1 − cos(2π(n+1)/(L+1))), n = 0 ... L−1, then per frame
    ///
    ///     SNR_f = 10·log10(Σ (w s)² / (Σ (w (s − ŝ))² + ε) + ε),  clamped to [−10, 35] dB,
    ///
    /// averaged over all frames that fit entirely in the signal (ε = 2.2e-16, MATLAB's eps). A signal shorter than
    /// one frame is taken as one unwindowed frame.
    public static func segmentalSNR(reference: [Float], estimate: [Float], sampleRate: Int) -> Double {
        let n = min(reference.count, estimate.count)
        guard n > 0 else { return segmentSNRRange.lowerBound }
        let frameLength = max(4, Int((segmentDuration * Double(sampleRate)).rounded()))
        if n < frameLength {
            return frameSNR(reference, estimate, start: 0, count: n, window: [Double](repeating: 1, count: n))
        }
        let hop = frameLength / 4
        let window = (0..<frameLength).map { 0.5 * (1 - cos(2 * Double.pi * Double($0 + 1) / Double(frameLength + 1))) }
        let frames = (n - frameLength) / hop + 1
        var total = 0.0
        for f in 0..<frames {
            total += frameSNR(reference, estimate, start: f * hop, count: frameLength, window: window)
        }
        return total / Double(frames)
    }

    private static func frameSNR(_ reference: [Float], _ estimate: [Float], start: Int, count: Int,
                                 window: [Double]) -> Double {
        let eps = Double.ulpOfOne
        var signalEnergy = 0.0, noiseEnergy = 0.0
        for i in 0..<count {
            let s = window[i] * Double(reference[start + i])
            let e = s - window[i] * Double(estimate[start + i])
            signalEnergy += s * s
            noiseEnergy += e * e
        }
        let value = 10 * log10(signalEnergy / (noiseEnergy + eps) + eps)
        return min(max(value, segmentSNRRange.lowerBound), segmentSNRRange.upperBound)
    }
}
