import Foundation
import XCTest
@testable import DenoiseKit

final class FeaturesTests: XCTestCase {
    /// A 4 × 5 spectrogram of random values with some exact zeros and a 3-4-5 bin.
    private func sample() -> Spectrogram {
        var rng = RandomGenerator(seed: 21)
        var s = Spectrogram(frames: 4, bins: 5)
        for i in 0..<20 {
            s.real[i] = rng.uniform(-10, 10)
            s.imag[i] = rng.uniform(-10, 10)
        }
        s.real[3] = 0; s.imag[3] = 0
        s.real[7] = 3; s.imag[7] = -4
        return s
    }

    func testLogPowerMatchesDirectComputation() {
        let s = sample()
        let features = Features.logPower(s)
        XCTAssertEqual(features.count, 20)
        for i in 0..<20 {
            let re = Double(s.real[i]), im = Double(s.imag[i])
            XCTAssertEqual(Double(features[i]), log(re * re + im * im + 1e-10), accuracy: 1e-5, "bin \(i)")
        }
        XCTAssertEqual(Double(features[3]), log(1e-10), accuracy: 1e-4, "a silent bin sits at the floor")
        XCTAssertEqual(Double(features[7]), log(25), accuracy: 1e-5)
    }

    func testMagnitudeMatchesDirectComputation() {
        let s = sample()
        let magnitude = Features.magnitude(s)
        XCTAssertEqual(magnitude.count, 20)
        for i in 0..<20 {
            let re = Double(s.real[i]), im = Double(s.imag[i])
            XCTAssertEqual(Double(magnitude[i]), (re * re + im * im).squareRoot(), accuracy: 1e-5, "bin \(i)")
        }
        XCTAssertEqual(magnitude[3], 0)
        XCTAssertEqual(magnitude[7], 5)
    }

    func testFrameVariantsMatchWholeSpectrogram() {
        let s = sample()
        let logPower = Features.logPower(s), magnitude = Features.magnitude(s)
        var frameLog = [Float](repeating: .nan, count: s.bins)
        var frameMagnitude = [Float](repeating: .nan, count: s.bins)
        for t in 0..<s.frames {
            let offset = t * s.bins
            s.real.withUnsafeBufferPointer { re in
                s.imag.withUnsafeBufferPointer { im in
                    Features.logPower(real: re.baseAddress! + offset, imag: im.baseAddress! + offset, bins: s.bins,
                                      into: &frameLog)
                    Features.magnitude(real: re.baseAddress! + offset, imag: im.baseAddress! + offset, bins: s.bins,
                                       into: &frameMagnitude)
                }
            }
            XCTAssertEqual(frameLog, Array(logPower[offset..<(offset + s.bins)]))
            XCTAssertEqual(frameMagnitude, Array(magnitude[offset..<(offset + s.bins)]))
        }
    }

    /// A frame of 257 bins runs 32 vector blocks and a scalar tail: every bin within 2·10⁻⁶ of the Double formula,
    /// from silence to full-scale powers.
    func testLogPowerVectorPathIsAccurate() {
        var s = Spectrogram(frames: 1, bins: 257)
        var rng = RandomGenerator(seed: 5)
        for f in 0..<257 {
            let scale = Float(pow(10, Double(f % 13) - 6))  // 10⁻⁶ … 10⁶
            s.real[f] = f % 17 == 0 ? 0 : scale * rng.uniform(-1, 1)
            s.imag[f] = f % 17 == 0 ? 0 : scale * rng.uniform(-1, 1)
        }
        let features = Features.logPower(s)
        for f in 0..<257 {
            let re = Double(s.real[f]), im = Double(s.imag[f])
            XCTAssertEqual(Double(features[f]), log(re * re + im * im + 1e-10), accuracy: 2e-6, "bin \(f)")
        }
    }

    func testPhaseCosineOfKnownPairs() {
        // Bins: same direction, quarter turn, opposite, 45°, and a silent bin (no phase: reads 1).
        var x = Spectrogram(frames: 1, bins: 5), s = Spectrogram(frames: 1, bins: 5)
        (x.real, x.imag) = ([1, 1, 1, 1, 0], [1, 0, 0, 0, 0])
        (s.real, s.imag) = ([2, 0, -3, 2, 1], [2, 2, 0, 2, 1])
        let cosine = Features.phaseCosine(x, s)
        for (value, expected) in zip(cosine, [1, 0, -1, Float(0.5).squareRoot(), 1]) {
            XCTAssertEqual(value, expected, accuracy: 1e-6)
        }
    }

    func testApplyMaskScalesBothPartsOfOneFrameOnly() {
        let original = sample()
        var s = original
        let mask: [Float] = [0, 0.25, 0.5, 1, 2]
        Features.applyMask(mask, to: &s, frame: 2)
        for t in 0..<s.frames {
            for f in 0..<s.bins {
                let i = t * s.bins + f
                let m: Float = t == 2 ? mask[f] : 1
                XCTAssertEqual(s.real[i], original.real[i] * m)
                XCTAssertEqual(s.imag[i], original.imag[i] * m)
            }
        }
    }

    func testHalfMaskOnEveryFrameHalvesTheSynthesizedSignal() {
        // Masking is linear: a constant mask of 0.5 gives back half the signal through the inverse STFT.
        let config = STFTConfig(nFFT: 64, hop: 16, window: .sqrtHann)
        let stft = STFT(config: config)
        var rng = RandomGenerator(seed: 4)
        let x = (0..<300).map { _ in rng.uniform(-1, 1) }
        var s = stft.analyze(x)
        Features.applyMask([Float](repeating: 0.5, count: s.frames * s.bins), to: &s)
        let y = stft.synthesize(s, length: x.count)
        XCTAssertEqual(y.count, x.count)
        for i in 0..<x.count { XCTAssertEqual(y[i], 0.5 * x[i], accuracy: 1e-5) }
    }
}
