import Foundation

/// The STFT window family. Analysis and synthesis use the same window; `STFTSynthesizer`
/// normalises by their overlap sum, so both kinds reconstruct perfectly at hops nFFT/2 and nFFT/4.
public enum WindowKind: String, Codable, Sendable, CaseIterable {
    /// Periodic Hann: w[i] = 0.5 − 0.5·cos(2πi/N). As an analysis/synthesis pair the product is Hann².
    case hann
    /// Square root of the periodic Hann window: the analysis × synthesis product is Hann itself,
    /// which overlap-adds to a constant for any hop that divides N/2.
    case sqrtHann
}

/// Window functions.
enum Window {
    /// A periodic window of `size` samples (the DFT-even form used for STFTs: the period is `size`,
    /// so w[0] = 0 and w[size/2] = 1 for Hann, and the window is not symmetric about its last sample).
    ///
    /// Computed in Double and rounded once, so values are exact to Float precision.
    static func make(_ kind: WindowKind, size: Int) -> [Float] {
        precondition(size > 0, "window size must be positive, got \(size)")
        return (0..<size).map { i in
            let hann = 0.5 - 0.5 * cos(2 * Double.pi * Double(i) / Double(size))
            switch kind {
            case .hann: return Float(hann)
            // Rounding can leave a tiny negative at i = 0; clamp before the square root.
            case .sqrtHann: return Float(max(hann, 0).squareRoot())
            }
        }
    }
}
