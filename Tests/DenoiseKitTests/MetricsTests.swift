@testable import DenoiseKit
import Foundation
import XCTest

/// Deterministic test signals, independent of the library's RandomGenerator so that frozen reference values do
/// not move if that generator changes.
enum MetricsTestSignals {
    /// 64-bit LCG (Knuth's MMIX constants); `uniform` takes the top 24 bits.
    struct LCG {
        var state: UInt64
        mutating func uniform() -> Double {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Double(state >> 40) / 16_777_216.0
        }
        /// Approximately normal: sum of 12 uniforms minus 6.
        mutating func gaussian() -> Double { (0..<12).reduce(0.0) { sum, _ in sum + uniform() } - 6 }
    }

    /// `seconds` of speech-like sound at `rate` Hz, peak about 0.5: 250 ms syllables under a sin² envelope with
    /// random loudness; voiced ones are harmonics (1/k amplitude, up to 4.5 kHz) of a pitch gliding within
    /// 100–200 Hz, every third one is a fricative (differenced noise, energy above 2 kHz), and every fifth is a pause.
    static func speechLike(seconds: Double, rate: Int, seed: UInt64) -> [Float] {
        var random = LCG(state: seed)
        let count = Int(seconds * Double(rate))
        let syllable = rate / 4
        var output = [Float](repeating: 0, count: count)
        var pitchPhase = 0.0
        var previousNoise = 0.0
        var syllableIndex = 0
        var start = 0
        while start < count {
            let length = min(syllable, count - start)
            let loudness = 0.3 + 0.7 * random.uniform()
            let pitchStart = 100 + 100 * random.uniform(), pitchEnd = 100 + 100 * random.uniform()
            let kind = syllableIndex % 5 == 4 ? 0 : (syllableIndex % 3 == 2 ? 2 : 1)   // 0 pause, 1 voiced, 2 noise
            for i in 0..<length {
                let progress = Double(i) / Double(syllable)
                let envelope = loudness * pow(sin(Double.pi * progress), 2)
                var value = 0.0
                if kind == 1 {
                    let pitch = pitchStart + (pitchEnd - pitchStart) * progress
                    pitchPhase += 2 * Double.pi * pitch / Double(rate)
                    var k = 1
                    while Double(k) * pitch < 4500 {
                        value += sin(Double(k) * pitchPhase) / Double(k)
                        k += 1
                    }
                    value *= 0.25
                } else if kind == 2 {
                    let noise = random.gaussian()
                    value = 0.15 * (noise - previousNoise)
                    previousNoise = noise
                }
                output[start + i] = Float(envelope * value)
            }
            start += length
            syllableIndex += 1
        }
        return output
    }

    static func whiteNoise(count: Int, seed: UInt64) -> [Float] {
        var random = LCG(state: seed)
        return (0..<count).map { _ in Float(random.gaussian()) }
    }

    /// Noise confined to `low ... high` Hz at `rate`: a sum of sines every 0.25 Hz in that range, each of random
    /// phase, so that it does not repeat within 4 s; unit amplitude per component, scale it with `Mixing`.
    static func bandNoise(count: Int, rate: Int, low: Double, high: Double, seed: UInt64) -> [Float] {
        var random = LCG(state: seed)
        var output = [Double](repeating: 0, count: count)
        var frequency = low
        while frequency <= high {
            let phase = 2 * Double.pi * random.uniform()
            let step = 2 * Double.pi * frequency / Double(rate)
            for i in 0..<count { output[i] += sin(step * Double(i) + phase) }
            frequency += 0.25
        }
        return output.map { Float($0) }
    }

    static func sine(cycles: Int, count: Int, amplitude: Double, cosine: Bool = false) -> [Float] {
        (0..<count).map {
            let angle = 2 * Double.pi * Double(cycles * $0) / Double(count)
            return Float(amplitude * (cosine ? cos(angle) : sin(angle)))
        }
    }

    struct WAVTestError: Error { let message: String }

    /// Minimal reader for the corpus's files (mono 16-bit PCM), so this test does not depend on Audio/WAV*.
    static func readPCM16(_ url: URL) throws -> (samples: [Float], rate: Int) {
        let data = [UInt8](try Data(contentsOf: url))
        func u16(_ at: Int) -> Int { Int(data[at]) | Int(data[at + 1]) << 8 }
        func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
        guard data.count >= 12, String(bytes: data[0..<4], encoding: .ascii) == "RIFF" else {
            throw WAVTestError(message: "\(url.path): not RIFF")
        }
        var offset = 12, rate = 0, channels = 0, bits = 0
        while offset + 8 <= data.count {
            let id = String(bytes: data[offset..<(offset + 4)], encoding: .ascii) ?? ""
            let size = u32(offset + 4)
            let body = offset + 8
            if id == "fmt " {
                channels = u16(body + 2); rate = u32(body + 4); bits = u16(body + 14)
            } else if id == "data" {
                guard channels == 1, bits == 16 else { throw WAVTestError(message: "\(url.path): not mono 16-bit") }
                let frames = min(size, data.count - body) / 2
                let samples = (0..<frames).map { Float(Int16(truncatingIfNeeded: u16(body + 2 * $0))) / 32768 }
                return (samples, rate)
            }
            offset = body + size + (size & 1)
        }
        throw WAVTestError(message: "\(url.path): no data chunk")
    }
}

final class MetricsTests: XCTestCase {
    private let count = 1600

    // MARK: - SI-SDR, SNR, segmental SNR

    func testSISDRMatchesClosedFormForAnErrorOrthogonalToTheReference() {
        // s and e are sums of whole-period sinusoids at different frequencies: zero-mean and orthogonal, with
        // ‖s‖² = n/2 · (1 + 0.5²) and ‖e‖² = n/2 · (0.1² + 0.05²).
        let s = zip(MetricsTestSignals.sine(cycles: 5, count: count, amplitude: 1),
                    MetricsTestSignals.sine(cycles: 13, count: count, amplitude: 0.5)).map { $0 + $1 }
        let e = zip(MetricsTestSignals.sine(cycles: 7, count: count, amplitude: 0.1, cosine: true),
                    MetricsTestSignals.sine(cycles: 21, count: count, amplitude: 0.05)).map { $0 + $1 }
        let a: Float = 0.7
        let estimate = zip(s, e).map { a * $0 + $1 }
        let expected = 10 * log10(Double(a * a) * 1.25 / (0.01 + 0.0025))
        XCTAssertEqual(SignalMetrics.siSDR(reference: s, estimate: estimate), expected, accuracy: 1e-4)
        // A DC offset on either signal is removed first.
        let offset = estimate.map { $0 + 0.3 }
        XCTAssertEqual(SignalMetrics.siSDR(reference: s.map { $0 - 0.2 }, estimate: offset), expected, accuracy: 1e-4)
    }

    func testSISDRIsScaleInvariant() {
        let s = MetricsTestSignals.speechLike(seconds: 0.5, rate: 8000, seed: 1)
        let noise = MetricsTestSignals.whiteNoise(count: s.count, seed: 2)
        let estimate = zip(s, noise).map { $0 + 0.05 * $1 }
        let base = SignalMetrics.siSDR(reference: s, estimate: estimate)
        for scale: Float in [0.01, 0.5, 3.7, -2] {
            XCTAssertEqual(SignalMetrics.siSDR(reference: s, estimate: estimate.map { scale * $0 }), base,
                           accuracy: 1e-6, "scale \(scale)")
        }
        // Plain SNR is not: a half-scale estimate of s alone has error s/2, 6.02 dB.
        XCTAssertEqual(SignalMetrics.snr(reference: s, estimate: s.map { 0.5 * $0 }), 20 * log10(2), accuracy: 1e-6)
    }

    func testSNRMatchesClosedForm() {
        let s = MetricsTestSignals.sine(cycles: 9, count: count, amplitude: 0.8)
        let e = MetricsTestSignals.sine(cycles: 31, count: count, amplitude: 0.08, cosine: true)
        let estimate = zip(s, e).map { $0 + $1 }
        // ‖s‖² / ‖e‖² = 0.8² / 0.08² = 100: 20 dB.
        XCTAssertEqual(SignalMetrics.snr(reference: s, estimate: estimate), 20, accuracy: 1e-4)
    }

    func testMetricsCompareOverTheShorterSignal() {
        let s = MetricsTestSignals.sine(cycles: 9, count: count, amplitude: 0.8)
        let e = MetricsTestSignals.sine(cycles: 31, count: count, amplitude: 0.08, cosine: true)
        let estimate = zip(s, e).map { $0 + $1 }
        let longer = estimate + [Float](repeating: 0.9, count: 500)
        XCTAssertEqual(SignalMetrics.snr(reference: s, estimate: longer), 20, accuracy: 1e-4)
        XCTAssertEqual(SignalMetrics.siSDR(reference: s, estimate: longer),
                       SignalMetrics.siSDR(reference: s, estimate: estimate), accuracy: 1e-9)
        XCTAssertEqual(SignalMetrics.segmentalSNR(reference: s + [0.5, 0.5], estimate: estimate, sampleRate: 16000),
                       SignalMetrics.segmentalSNR(reference: s, estimate: estimate, sampleRate: 16000), accuracy: 1e-9)
    }

    func testPerfectAndSilentInputsGiveFiniteScores() {
        let s = MetricsTestSignals.speechLike(seconds: 0.3, rate: 8000, seed: 3)
        XCTAssertGreaterThan(SignalMetrics.siSDR(reference: s, estimate: s), 100)
        XCTAssertGreaterThan(SignalMetrics.snr(reference: s, estimate: s), 100)
        let silence = [Float](repeating: 0, count: s.count)
        for value in [SignalMetrics.siSDR(reference: silence, estimate: s),
                      SignalMetrics.siSDR(reference: s, estimate: silence),
                      SignalMetrics.snr(reference: silence, estimate: silence),
                      SignalMetrics.segmentalSNR(reference: silence, estimate: s, sampleRate: 8000)] {
            XCTAssertTrue(value.isFinite)
        }
        XCTAssertEqual(SignalMetrics.snr(reference: silence, estimate: silence), 0)
    }

    func testSegmentalSNREqualsFrameSNRWhenEveryFrameHasTheSameRatio() {
        // estimate = 0.9·s: every frame's error is 0.1·s, so every frame scores 20 dB.
        let s = MetricsTestSignals.speechLike(seconds: 0.6, rate: 16000, seed: 4)
            .map { $0 + 0.01 }   // no silent frames
        XCTAssertEqual(SignalMetrics.segmentalSNR(reference: s, estimate: s.map { 0.9 * $0 }, sampleRate: 16000),
                       20, accuracy: 1e-3)
    }

    func testSegmentalSNRClampsEachFrameToMinus10And35dB() {
        let s = MetricsTestSignals.speechLike(seconds: 0.6, rate: 16000, seed: 5).map { $0 + 0.01 }
        XCTAssertEqual(SignalMetrics.segmentalSNR(reference: s, estimate: s, sampleRate: 16000), 35, accuracy: 1e-9)
        XCTAssertEqual(SignalMetrics.segmentalSNR(reference: s, estimate: s.map { -5 * $0 }, sampleRate: 16000),
                       -10, accuracy: 1e-9)
        // Half the frames perfect (35), half with a ratio of 0 dB, averaged: between the two.
        let half = s.count / 2
        let mixed = (0..<s.count).map { $0 < half ? s[$0] : 0 }
        let value = SignalMetrics.segmentalSNR(reference: s, estimate: mixed, sampleRate: 16000)
        XCTAssertGreaterThan(value, 5)
        XCTAssertLessThan(value, 30)
    }

    // MARK: - STOI

    func testSTOIOfASignalWithItselfIsOne() {
        let clean = MetricsTestSignals.speechLike(seconds: 3, rate: 16000, seed: 11)
        XCTAssertEqual(STOI.compute(clean: clean, processed: clean, sampleRate: 16000), 1, accuracy: 1e-6)
        let clean10k = MetricsTestSignals.speechLike(seconds: 2, rate: 10000, seed: 12)
        XCTAssertEqual(STOI.compute(clean: clean10k, processed: clean10k, sampleRate: 10000), 1, accuracy: 1e-6)
    }

    func testSTOIFallsMonotonicallyAsWhiteNoiseIsAdded() {
        let clean = MetricsTestSignals.speechLike(seconds: 3, rate: 16000, seed: 13)
        let noise = MetricsTestSignals.whiteNoise(count: clean.count, seed: 14)
        var previous = STOI.compute(clean: clean, processed: clean, sampleRate: 16000)
        for snr: Float in [20, 10, 0, -10] {
            let noisy = Mixing.mix(clean: clean, noise: noise, snrDB: snr)
            let score = STOI.compute(clean: clean, processed: noisy, sampleRate: 16000)
            XCTAssertLessThan(score, previous, "STOI at \(snr) dB should be below the cleaner mix")
            XCTAssertGreaterThanOrEqual(score, -1)
            XCTAssertLessThanOrEqual(score, 1)
            previous = score
        }
    }

    func testSTOIIsInsensitiveToOverallGainOfTheProcessedSignal() {
        // Each segment of the processed envelope is normalised to the clean one's energy.
        let clean = MetricsTestSignals.speechLike(seconds: 2, rate: 10000, seed: 15)
        let noise = MetricsTestSignals.whiteNoise(count: clean.count, seed: 16)
        let noisy = Mixing.mix(clean: clean, noise: noise, snrDB: 5)
        let base = STOI.compute(clean: clean, processed: noisy, sampleRate: 10000)
        XCTAssertEqual(STOI.compute(clean: clean, processed: noisy.map { 0.1 * $0 }, sampleRate: 10000), base,
                       accuracy: 1e-5)
    }

    func testSTOIOfTooShortSignalReturnsTheDocumentedScore() {
        // 0.3 s at 10 kHz gives fewer than 30 STFT frames; so does a signal with one loud 0.2 s burst in silence.
        let short = MetricsTestSignals.speechLike(seconds: 0.3, rate: 16000, seed: 17)
        XCTAssertEqual(STOI.compute(clean: short, processed: short, sampleRate: 16000), STOI.tooShortScore)
        var burst = [Float](repeating: 0, count: 30000)
        for i in 10000..<12000 { burst[i] = Float(0.5 * sin(Double(i) * 0.3)) }
        XCTAssertEqual(STOI.compute(clean: burst, processed: burst, sampleRate: 10000), STOI.tooShortScore)
        XCTAssertEqual(STOI.compute(clean: [], processed: [], sampleRate: 16000), STOI.tooShortScore)
        XCTAssertEqual(STOI.compute(clean: [0.1, 0.2], processed: [0.1], sampleRate: 10000), STOI.tooShortScore)
    }

    func testSTOIMatchesTheReferenceImplementation() {
        // Frozen from pystoi 0.4.1 (a float64 port of the authors' MATLAB code) on these exact signals. At 10 kHz
        // nothing is resampled and the two agree to 1e-8; at 16 kHz the resamplers differ (pystoi uses Octave's
        // filter), which moves the score by about 1e-6 here and at most 2e-5 on the 42 files of shared/data/test.
        let cases: [(rate: Int, snr: Float, reference: Double, tolerance: Double)] = [
            (10000, -10, 0.517005208, 1e-6), (10000, 0, 0.769235290, 1e-6), (10000, 10, 0.960477617, 1e-6),
            (16000, -10, 0.578557795, 1e-4), (16000, 0, 0.806519616, 1e-4), (16000, 10, 0.968239125, 1e-4),
        ]
        for (rate, snr, reference, tolerance) in cases {
            let clean = MetricsTestSignals.speechLike(seconds: 3, rate: rate, seed: 21)
            let noise = MetricsTestSignals.whiteNoise(count: clean.count, seed: 22)
            let noisy = Mixing.mix(clean: clean, noise: noise, snrDB: snr)
            XCTAssertEqual(STOI.compute(clean: clean, processed: noisy, sampleRate: rate), reference,
                           accuracy: tolerance, "\(rate) Hz, \(snr) dB")
        }
    }

    // MARK: - STOI per band

    func testSTOIIsTheMeanOfItsBandScores() throws {
        let clean = MetricsTestSignals.speechLike(seconds: 3, rate: 16000, seed: 31)
        let noise = MetricsTestSignals.whiteNoise(count: clean.count, seed: 32)
        let noisy = Mixing.mix(clean: clean, noise: noise, snrDB: 0)
        let bands = try XCTUnwrap(STOI.bandScores(clean: clean, processed: noisy, sampleRate: 16000))
        XCTAssertEqual(bands.count, 15)
        XCTAssertEqual(bands.reduce(0, +) / 15, STOI.compute(clean: clean, processed: noisy, sampleRate: 16000),
                       accuracy: 1e-12)
        // White noise at 0 dB costs something in every band; the bands are not all alike.
        for (k, score) in bands.enumerated() { XCTAssertTrue((-1 ..< 1).contains(score), "band \(k): \(score)") }
        XCTAssertGreaterThan((bands.max() ?? 0) - (bands.min() ?? 0), 0.05, "\(bands)")
    }

    func testBandCentresAreOneThirdOctavesFrom150Hz() {
        XCTAssertEqual(STOI.bandCentresHz.count, 15)
        XCTAssertEqual(STOI.bandCentresHz.first ?? 0, 150, accuracy: 1e-12)
        XCTAssertEqual(STOI.bandCentresHz.last ?? 0, 3809.76, accuracy: 0.01)
        for k in 3..<15 { XCTAssertEqual(STOI.bandCentresHz[k] / STOI.bandCentresHz[k - 3], 2, accuracy: 1e-12) }
    }

    func testNoiseInOneBandLowersThatBandAlone() throws {
        // Band 8 (centre 952 Hz) spans bins 43 ..< 55 of STOI's grid, 840–1055 Hz; the noise sits inside it, and
        // the Hann window's main lobe (±78 Hz) spreads it a little into bands 7 and 9 only. Measured: band 8 0.44,
        // bands 7 and 9 0.99, the rest above 0.9999.
        let clean = MetricsTestSignals.speechLike(seconds: 3, rate: 10000, seed: 33)
        let noise = MetricsTestSignals.bandNoise(count: clean.count, rate: 10000, low: 880, high: 1020, seed: 34)
        let noisy = Mixing.mix(clean: clean, noise: noise, snrDB: 0)
        let bands = try XCTUnwrap(STOI.bandScores(clean: clean, processed: noisy, sampleRate: 10000))
        XCTAssertEqual(bands.indices.min { bands[$0] < bands[$1] }, 8, "\(bands)")
        XCTAssertLessThan(bands[8], 0.6, "\(bands)")
        for k in bands.indices where abs(k - 8) >= 2 { XCTAssertGreaterThan(bands[k], 0.99, "band \(k): \(bands)") }
    }

    func testBandScoresOfTooShortSignalsAreNil() {
        let short = MetricsTestSignals.speechLike(seconds: 0.3, rate: 16000, seed: 17)
        XCTAssertNil(STOI.bandScores(clean: short, processed: short, sampleRate: 16000))
        XCTAssertNil(STOI.bandScores(clean: [], processed: [], sampleRate: 16000))
        XCTAssertEqual(STOI.score(bandScores: nil), STOI.tooShortScore)
        // Long enough: 0.6 s of the same signal.
        let long = MetricsTestSignals.speechLike(seconds: 0.6, rate: 16000, seed: 17)
        XCTAssertEqual(STOI.bandScores(clean: long, processed: long, sampleRate: 16000)?.count, 15)
    }

    func testEvaluationScoresSTOIFromItsBandsForTheEnhancedAndTheNoisyFile() throws {
        let folder = try TestSignals.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let clean = MetricsTestSignals.speechLike(seconds: 1.5, rate: 16000, seed: 35)
        let noise = MetricsTestSignals.whiteNoise(count: clean.count, seed: 36)
        let signals = [("clean", clean), ("enhanced", Mixing.mix(clean: clean, noise: noise, snrDB: 15)),
                       ("noisy", Mixing.mix(clean: clean, noise: noise, snrDB: 0))]
        for (name, samples) in signals {
            try TestSignals.writeWAV(samples, to: folder.appendingPathComponent("\(name)/a.wav"), format: .float32)
        }
        let (cleanFolder, enhancedFolder) = (folder.appendingPathComponent("clean"),
                                             folder.appendingPathComponent("enhanced"))
        let s = try Evaluation.scoreFile("a.wav", clean: cleanFolder, enhanced: enhancedFolder,
                                         noisy: folder.appendingPathComponent("noisy"))
        let bands = try XCTUnwrap(s.stoiBands), noisyBands = try XCTUnwrap(s.noisyStoiBands)
        XCTAssertEqual(s.stoi, bands.reduce(0, +) / 15, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(s.noisy).stoi, noisyBands.reduce(0, +) / 15, accuracy: 1e-12)
        XCTAssertGreaterThan(s.stoi, try XCTUnwrap(s.noisy).stoi)
        let withoutNoisy = try Evaluation.scoreFile("a.wav", clean: cleanFolder, enhanced: enhancedFolder, noisy: nil)
        XCTAssertNil(withoutNoisy.noisyStoiBands)
        XCTAssertEqual(withoutNoisy.stoiBands, bands)
    }

    // MARK: - Real data

    func testSTOIOfANoisyTestFileLiesInPlausibleRange() throws {
        // Tests/DenoiseKitTests/MetricsTests.swift → package root → ../shared/data/test
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let test = root.deletingLastPathComponent().appendingPathComponent("shared/data/test")
        let cleanDirectory = test.appendingPathComponent("clean")
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: cleanDirectory.path),
              let name = names.filter({ $0.hasSuffix(".wav") }).sorted().first else {
            throw XCTSkip("no test data at \(test.path): STOI on real speech not checked")
        }
        let clean = try MetricsTestSignals.readPCM16(cleanDirectory.appendingPathComponent(name))
        let noisy = try MetricsTestSignals.readPCM16(test.appendingPathComponent("noisy").appendingPathComponent(name))
        XCTAssertEqual(clean.rate, noisy.rate)
        let score = STOI.compute(clean: clean.samples, processed: noisy.samples, sampleRate: clean.rate)
        XCTAssertGreaterThanOrEqual(score, 0.6, name)
        XCTAssertLessThanOrEqual(score, 1.0, name)
        XCTAssertEqual(STOI.compute(clean: clean.samples, processed: clean.samples, sampleRate: clean.rate), 1,
                       accuracy: 1e-6)
    }
}
