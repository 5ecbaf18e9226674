import Foundation

/// Linear convolution of a signal with one or more filters by one large FFT.
///
/// A 4 s crop (64 000 samples at 16 kHz) with a 1 s room impulse response needs about 10⁹ multiply-adds directly,
/// but three transforms of 2¹⁷ points by FFT. Sizes are powers of two, so crops of any length share a few cached
/// FFTW plans. The signal's spectrum is computed once and reused for every filter.
enum FFTConvolution {
    /// `signal ⊛ filter` for each filter, each cut to `signal.count` samples (the convolution's first samples, so
    /// that a filter whose first tap is its direct path keeps the output aligned with the signal).
    static func convolve(_ signal: [Float], with filters: [[Float]]) -> [[Float]] {
        guard !signal.isEmpty else { return filters.map { _ in [] } }
        let longest = filters.map(\.count).max() ?? 0
        guard longest > 0 else { return filters.map { _ in [Float](repeating: 0, count: signal.count) } }
        var size = 2
        while size < signal.count + longest - 1 { size *= 2 }
        let fft = RealFFT(size: size)
        let signalSpectrum = spectrum(of: signal, fft: fft)
        return filters.map { filter in
            guard !filter.isEmpty else { return [Float](repeating: 0, count: signal.count) }
            var product = spectrum(of: filter, fft: fft)
            // Complex product, interleaved (re, im).
            for bin in 0..<fft.bins {
                let (a, b) = (signalSpectrum[2 * bin], signalSpectrum[2 * bin + 1])
                let (c, d) = (product[2 * bin], product[2 * bin + 1])
                product[2 * bin] = a * c - b * d
                product[2 * bin + 1] = a * d + b * c
            }
            var output = [Float](repeating: 0, count: size)
            product.withUnsafeMutableBufferPointer { p in
                output.withUnsafeMutableBufferPointer { o in
                    guard let input = p.baseAddress, let result = o.baseAddress else { return }
                    fft.inverse(input, result)
                }
            }
            // FFTW's inverse is unnormalised: the one scaling of this transform pair.
            let scale = 1 / Float(size)
            return (0..<signal.count).map { output[$0] * scale }
        }
    }

    private static func spectrum(of x: [Float], fft: RealFFT) -> [Float] {
        var padded = [Float](repeating: 0, count: fft.size)
        padded.replaceSubrange(0..<x.count, with: x)
        var out = [Float](repeating: 0, count: 2 * fft.bins)
        padded.withUnsafeBufferPointer { p in
            out.withUnsafeMutableBufferPointer { o in
                guard let input = p.baseAddress, let result = o.baseAddress else { return }
                fft.forward(input, result)
            }
        }
        return out
    }
}
