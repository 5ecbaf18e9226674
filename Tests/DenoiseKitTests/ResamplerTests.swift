@testable import DenoiseKit
import Foundation
import XCTest

final class ResamplerTests: XCTestCase {
    // MARK: - Helpers

    private func tone(_ frequency: Double, amplitude: Double = 0.5, phase: Double = 0.3,
                      rate: Int, seconds: Double) -> [Float] {
        let count = Int(seconds * Double(rate))
        return (0..<count).map {
            Float(amplitude * sin(2 * Double.pi * frequency * Double($0) / Double(rate) + phase))
        }
    }

    /// Least-squares fit of a·sin(ωn) + b·cos(ωn) over `range`: returns amplitude √(a²+b²) and phase atan2(b, a),
    /// so that y[n] ≈ amplitude·sin(ωn + phase). Exact for any window length (no whole-period requirement).
    private func fitSinusoid(_ y: [Float], frequency: Double, rate: Int,
                             range: Range<Int>) -> (amplitude: Double, phase: Double) {
        let omega = 2 * Double.pi * frequency / Double(rate)
        var ss = 0.0, cc = 0.0, sc = 0.0, ys = 0.0, yc = 0.0
        for n in range {
            let s = sin(omega * Double(n)), c = cos(omega * Double(n)), v = Double(y[n])
            ss += s * s; cc += c * c; sc += s * c; ys += v * s; yc += v * c
        }
        let det = ss * cc - sc * sc
        let a = (ys * cc - yc * sc) / det
        let b = (yc * ss - ys * sc) / det
        return ((a * a + b * b).squareRoot(), atan2(b, a))
    }

    /// Indices of `y` more than `margin` seconds from both ends.
    private func interior(_ y: [Float], rate: Int, margin: Double = 0.02) -> Range<Int> {
        let skip = Int(margin * Double(rate))
        return skip..<(y.count - skip)
    }

    private func rms(_ y: [Float], _ range: Range<Int>) -> Double {
        var sum = 0.0
        for n in range { sum += Double(y[n]) * Double(y[n]) }
        return (sum / Double(range.count)).squareRoot()
    }

    private func dB(_ ratio: Double) -> Double { 20 * log10(ratio) }

    /// Angle difference wrapped to (−π, π].
    private func phaseError(_ a: Double, _ b: Double) -> Double {
        var d = (a - b).truncatingRemainder(dividingBy: 2 * Double.pi)
        if d > Double.pi { d -= 2 * Double.pi }
        if d <= -Double.pi { d += 2 * Double.pi }
        return abs(d)
    }

    /// A tone through `from → to` keeps its amplitude (within `toleranceDB`) and its phase at time j / to
    /// (which proves the delay compensation).
    private func assertTonePreserved(_ frequency: Double, from: Int, to: Int, toleranceDB: Double,
                                     file: StaticString = #filePath, line: UInt = #line) {
        let x = tone(frequency, rate: from, seconds: 0.2)
        let y = Resampler.resample(x, from: from, to: to)
        let fit = fitSinusoid(y, frequency: frequency, rate: to, range: interior(y, rate: to))
        XCTAssertLessThan(abs(dB(fit.amplitude / 0.5)), toleranceDB, "\(frequency) Hz, \(from) → \(to): amplitude",
                          file: file, line: line)
        XCTAssertLessThan(phaseError(fit.phase, 0.3), 1e-3, "\(frequency) Hz, \(from) → \(to): phase (alignment)",
                          file: file, line: line)
    }

    // MARK: - Specifications

    func testOneKilohertzToneSurvives48kTo16kAndBackWithin0_1dB() {
        let x = tone(1000, rate: 48000, seconds: 0.5)
        let down = Resampler.resample(x, from: 48000, to: 16000)
        let back = Resampler.resample(down, from: 16000, to: 48000)
        XCTAssertEqual(back.count, x.count)
        // 48 samples per period: measure over whole periods, 50 ms away from the edges.
        let range = 2400..<(2400 + 48 * 400)
        let error = dB(rms(back, range) / rms(x, range))
        XCTAssertLessThan(abs(error), 0.1, "round-trip amplitude error \(error) dB")
        // Delay-compensated both ways: the round trip lands on the original samples.
        var worst: Float = 0
        for n in range { worst = max(worst, abs(back[n] - x[n])) }
        XCTAssertLessThan(worst, 1e-3, "round trip is not sample-aligned")
    }

    func testNineKilohertzToneIsRejectedBy80dBWhenGoingFrom48kTo16k() {
        // 9 kHz is above the 8 kHz Nyquist of 16 kHz: without the filter it would alias to 7 kHz.
        let x = tone(9000, rate: 48000, seconds: 0.3)
        let y = Resampler.resample(x, from: 48000, to: 16000)
        let attenuation = dB(rms(y, interior(y, rate: 16000)) / (0.5 / 2.squareRoot()))
        XCTAssertLessThan(attenuation, -80, "9 kHz leaks through at \(attenuation) dB")
    }

    func testStopbandStartsAtTheOutputNyquist() {
        // Just above 8 kHz (8.2 kHz would alias to 7.8 kHz) is already in the stopband.
        let x = tone(8200, rate: 48000, seconds: 0.3)
        let y = Resampler.resample(x, from: 48000, to: 16000)
        let attenuation = dB(rms(y, interior(y, rate: 16000)) / (0.5 / 2.squareRoot()))
        XCTAssertLessThan(attenuation, -75, "8.2 kHz leaks through at \(attenuation) dB")
    }

    func testPassbandIsFlatWithin0_1dBFrom100HzTo6kHzWhenGoingFrom16kTo44_1k() {
        for frequency in [100.0, 300, 1000, 2000, 3000, 4000, 5000, 6000] {
            assertTonePreserved(frequency, from: 16000, to: 44100, toleranceDB: 0.1)
        }
    }

    func testConversionsBetween44_1kAnd48kPreserveTonesAndTiming() {
        for frequency in [440.0, 5000, 15000] {
            assertTonePreserved(frequency, from: 44100, to: 48000, toleranceDB: 0.01)
            assertTonePreserved(frequency, from: 48000, to: 44100, toleranceDB: 0.01)
        }
    }

    func testSixteenKilohertzTo10kPreservesSpeechBandAndRejectsAboveFiveKilohertz() {
        assertTonePreserved(1000, from: 16000, to: 10000, toleranceDB: 0.01)
        assertTonePreserved(4000, from: 16000, to: 10000, toleranceDB: 0.01)
        let x = tone(6000, rate: 16000, seconds: 0.3)
        let y = Resampler.resample(x, from: 16000, to: 10000)
        XCTAssertEqual(y.count, 3000)
        let attenuation = dB(rms(y, interior(y, rate: 10000)) / (0.5 / 2.squareRoot()))
        XCTAssertLessThan(attenuation, -80, "6 kHz aliases into 10 kHz output at \(attenuation) dB")
    }

    func testCommonRatePairsPreserveAOneKilohertzTone() {
        let rates = [8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 96000]
        for (from, to) in [(8000, 11025), (11025, 96000), (96000, 8000), (22050, 32000), (24000, 22050),
                           (32000, 8000), (10000, 16000)] {
            XCTAssertTrue(rates.contains(from) || from == 10000)
            assertTonePreserved(1000, from: from, to: to, toleranceDB: 0.01)
        }
    }

    func testUnusualRatioUsesInterpolatedKernelAndStillPreservesTones() {
        // 44100 → 44101 does not reduce: 44101 phases would make a 19 MB table, so taps are interpolated.
        assertTonePreserved(1000, from: 44100, to: 44101, toleranceDB: 0.01)
        assertTonePreserved(12000, from: 44101, to: 44100, toleranceDB: 0.01)
    }

    func testOutputLengthIsCeilingOfInputTimesRatio() {
        XCTAssertEqual(Resampler.outputLength(forInput: 0, from: 48000, to: 16000), 0)
        XCTAssertEqual(Resampler.outputLength(forInput: 1, from: 48000, to: 16000), 1)
        XCTAssertEqual(Resampler.outputLength(forInput: 3, from: 48000, to: 16000), 1)
        XCTAssertEqual(Resampler.outputLength(forInput: 4, from: 48000, to: 16000), 2)
        XCTAssertEqual(Resampler.outputLength(forInput: 10, from: 16000, to: 48000), 30)
        XCTAssertEqual(Resampler.outputLength(forInput: 441, from: 44100, to: 48000), 480)
        XCTAssertEqual(Resampler.outputLength(forInput: 442, from: 44100, to: 48000), 482)   // 481.09 → 482
        XCTAssertEqual(Resampler.outputLength(forInput: 16001, from: 16000, to: 10000), 10001)  // 10000.625
        var generator = RandomGenerator(seed: 7)
        let x = (0..<1000).map { _ in generator.uniform(-1, 1) }
        for (from, to) in [(48000, 16000), (16000, 44100), (44100, 48000), (16000, 10000), (8000, 96000)] {
            for n in [0, 1, 2, 5, 17, 100, 999] {
                let expected = Int((Double(n) * Double(to) / Double(from)).rounded(.up))
                XCTAssertEqual(Resampler.outputLength(forInput: n, from: from, to: to), expected, "\(n) \(from)→\(to)")
                XCTAssertEqual(Resampler.resample(Array(x.prefix(n)), from: from, to: to).count, expected)
            }
        }
    }

    func testStreamingInRandomChunksEqualsWholeSignalResult() {
        var generator = RandomGenerator(seed: 42)
        let x = (0..<4000).map { _ in generator.uniform(-1, 1) }
        for (from, to) in [(48000, 16000), (16000, 48000), (44100, 48000), (48000, 44100), (16000, 10000),
                           (11025, 96000), (44100, 44101)] {
            let whole = Resampler.resample(x, from: from, to: to)
            let resampler = Resampler(from: from, to: to)
            for pass in 0..<2 {     // the second pass checks that finish() leaves the resampler ready for reuse
                var streamed: [Float] = []
                var start = 0
                while start < x.count {
                    let size = min(Int(generator.next() % 300), x.count - start)   // includes empty chunks
                    streamed += resampler.process(Array(x[start..<(start + size)]))
                    start += size
                }
                streamed += resampler.finish()
                XCTAssertEqual(streamed.count, whole.count, "\(from) → \(to), pass \(pass)")
                var worst: Float = 0
                for i in 0..<min(streamed.count, whole.count) { worst = max(worst, abs(streamed[i] - whole[i])) }
                XCTAssertLessThanOrEqual(worst, 1e-6, "\(from) → \(to), pass \(pass)")
            }
        }
    }

    func testResetDiscardsAPartialStream() {
        let x = tone(500, rate: 16000, seconds: 0.05)
        let resampler = Resampler(from: 16000, to: 22050)
        _ = resampler.process(tone(3000, rate: 16000, seconds: 0.03))
        resampler.reset()
        let y = resampler.process(x) + resampler.finish()
        XCTAssertEqual(y, Resampler.resample(x, from: 16000, to: 22050))
    }

    func testEqualRatesGiveAnIdenticalCopy() {
        let x: [Float] = [0.1, -0.2, 0.3, 0.25]
        XCTAssertEqual(Resampler.resample(x, from: 16000, to: 16000), x)
        let resampler = Resampler(from: 22050, to: 22050)
        XCTAssertEqual(resampler.process(x) + resampler.finish(), x)
    }

    func testBufferResamplingConvertsEveryChannel() {
        let left = tone(1000, rate: 48000, seconds: 0.1), right = tone(2000, rate: 48000, seconds: 0.1)
        let buffer = AudioBuffer(channels: [left, right], sampleRate: 48000)
        let converted = Resampler.resample(buffer, to: 16000)
        XCTAssertEqual(converted.sampleRate, 16000)
        XCTAssertEqual(converted.channelCount, 2)
        XCTAssertEqual(converted.channels[0], Resampler.resample(left, from: 48000, to: 16000))
        XCTAssertEqual(converted.channels[1], Resampler.resample(right, from: 48000, to: 16000))
        XCTAssertEqual(converted.frameCount, 1600)
    }

    /// The real-time form writes into the caller's buffer exactly what the array form returns, and its ready count
    /// is `readyOutputCount` of the input so far.
    func testBufferFormEqualsArrayFormAndReadyCount() {
        for (from, to) in [(8000, 16000), (16000, 8000), (11025, 16000), (16000, 16000)] {
            let x = TestSignals.speechLike(seconds: 0.2, sampleRate: from)
            let arrays = Resampler(from: from, to: to), buffers = Resampler(from: from, to: to)
            buffers.reserve(chunk: 100)
            var expected: [Float] = [], got: [Float] = [], room = [Float](repeating: 0, count: 400)
            var fed = 0
            for start in stride(from: 0, to: x.count, by: 100) {
                let piece = Array(x[start ..< min(start + 100, x.count)])
                expected += arrays.process(piece)
                let n = piece.withUnsafeBufferPointer { p in
                    room.withUnsafeMutableBufferPointer { buffers.process(p, into: $0) }
                }
                got += room[..<n]
                fed += piece.count
                XCTAssertEqual(got.count, buffers.readyOutputCount(afterInput: fed), "\(from) → \(to)")
            }
            XCTAssertEqual(got, expected, "\(from) → \(to)")
        }
    }
}
