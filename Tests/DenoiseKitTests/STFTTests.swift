import Foundation
import Synchronization
import XCTest
@testable import DenoiseKit

final class STFTTests: XCTestCase {
    /// Both windows at hops nFFT/2 and nFFT/4, small sizes for debug builds plus the 16 kHz defaults.
    private let configs: [STFTConfig] = [
        STFTConfig(nFFT: 64, hop: 32, window: .sqrtHann),
        STFTConfig(nFFT: 64, hop: 16, window: .sqrtHann),
        STFTConfig(nFFT: 64, hop: 32, window: .hann),
        STFTConfig(nFFT: 64, hop: 16, window: .hann),
        STFTConfig(nFFT: 512, hop: 256, window: .sqrtHann),
        STFTConfig(nFFT: 512, hop: 128, window: .hann),
    ]

    private func noise(_ count: Int, seed: UInt64) -> [Float] {
        var rng = RandomGenerator(seed: seed)
        return (0..<count).map { _ in rng.uniform(-1, 1) }
    }

    /// ‖y − x‖ / ‖x‖ in Double.
    private func relativeRMSError(_ y: [Float], _ x: [Float]) -> Double {
        var error = 0.0, energy = 0.0
        for i in 0..<x.count {
            let d = Double(y[i]) - Double(x[i])
            error += d * d
            energy += Double(x[i]) * Double(x[i])
        }
        return (error / max(energy, .leastNormalMagnitude)).squareRoot()
    }

    // MARK: - Windows and configuration

    func testWindowsArePeriodicHannAndItsSquareRoot() {
        // 0.5 − 0.5·cos(2πi/8): 0, (2 − √2)/4, 1/2, (2 + √2)/4, 1, … (period 8, so w[8] would be w[0]).
        let a = (2 - 2.0.squareRoot()) / 4, b = (2 + 2.0.squareRoot()) / 4
        let expected: [Double] = [0, a, 0.5, b, 1, b, 0.5, a]
        let hann = Window.make(.hann, size: 8)
        let sqrtHann = Window.make(.sqrtHann, size: 8)
        XCTAssertEqual(hann.count, 8)
        for i in 0..<8 {
            XCTAssertEqual(Double(hann[i]), expected[i], accuracy: 1e-7)
            XCTAssertEqual(Double(sqrtHann[i]), expected[i].squareRoot(), accuracy: 1e-7)
        }
    }

    func testConfigValidationRejectsFramingsThatCannotReconstruct() throws {
        try STFTConfig().validate()
        XCTAssertEqual(STFTConfig().bins, 257)
        let cases: [(STFTConfig, STFTError)] = [
            (STFTConfig(nFFT: 511, hop: 7), .fftSizeNotPositiveEven(511)),
            (STFTConfig(nFFT: 0, hop: 1), .fftSizeNotPositiveEven(0)),
            (STFTConfig(nFFT: 512, hop: 0), .hopNotPositive(0)),
            (STFTConfig(nFFT: 512, hop: 96), .hopDoesNotDivideFFTSize(hop: 96, nFFT: 512)),
            (STFTConfig(nFFT: 512, hop: 512), .hopLargerThanHalfFFTSize(hop: 512, nFFT: 512)),
        ]
        for (config, expected) in cases {
            XCTAssertThrowsError(try config.validate()) { error in
                XCTAssertEqual(error as? STFTError, expected)
                XCTAssertFalse("\(error)".isEmpty)
            }
        }
    }

    func testConfigRoundTripsThroughJSON() throws {
        let config = STFTConfig(nFFT: 256, hop: 64, window: .hann)
        let decoded = try JSONDecoder().decode(STFTConfig.self, from: JSONEncoder().encode(config))
        XCTAssertEqual(decoded, config)
    }

    func testFrameCountIsTheNumberOfFramesOverlappingTheSignal() {
        for config in configs {
            let padding = config.nFFT - config.hop
            for n in [0, 1, config.hop - 1, config.hop, config.hop + 1, config.nFFT, 3 * config.nFFT + 5] {
                // Brute force: frame t spans padded [t·hop, t·hop + nFFT), the signal padded [L, L + n).
                var count = 0
                var t = 0
                while t * config.hop < padding + n {
                    if n > 0 && t * config.hop + config.nFFT > padding { count += 1 }
                    t += 1
                }
                XCTAssertEqual(STFT.frameCount(forSamples: n, config: config), count, "\(config) n=\(n)")
            }
        }
    }

    // MARK: - Analysis

    func testAnalysisFramesAreDFTsOfZeroPaddedWindowedSignal() {
        for config in [STFTConfig(nFFT: 16, hop: 4, window: .hann), STFTConfig(nFFT: 16, hop: 8, window: .sqrtHann)] {
            let n = 37, size = config.nFFT, padding = size - config.hop
            let x = noise(n, seed: 11)
            let w = Window.make(config.window, size: size)
            let s = STFT(config: config).analyze(x)
            let frames = STFT.frameCount(forSamples: n, config: config)
            XCTAssertEqual(s.frames, frames)
            XCTAssertEqual(s.bins, size / 2 + 1)
            XCTAssertEqual(s.real.count, frames * s.bins)
            for t in 0..<frames {
                for f in 0..<s.bins {
                    var re = 0.0, im = 0.0
                    for i in 0..<size {
                        let m = t * config.hop + i - padding  // signal index of padded sample t·hop + i
                        let v = (m >= 0 && m < n) ? Double(x[m]) * Double(w[i]) : 0
                        let phase = -2 * Double.pi * Double(f * i) / Double(size)
                        re += v * cos(phase)
                        im += v * sin(phase)
                    }
                    XCTAssertEqual(Double(s.real[t * s.bins + f]), re, accuracy: 1e-5, "t=\(t) f=\(f)")
                    XCTAssertEqual(Double(s.imag[t * s.bins + f]), im, accuracy: 1e-5, "t=\(t) f=\(f)")
                }
            }
        }
    }

    func testSineAtBinKPeaksAtBinK() {
        for window in WindowKind.allCases {
            let config = STFTConfig(nFFT: 64, hop: 16, window: window)
            // Not bins 1 or N/2 − 1: there Hann's leakage of the mirror image at −k ties with bin k.
            for k in [2, 5, 17, 30] {
                let x = (0..<640).map { Float(sin(2 * Double.pi * Double(k * $0) / 64)) }
                let s = STFT(config: config).analyze(x)
                let power = zip(s.real, s.imag).map { $0 * $0 + $1 * $1 }
                // Frames lying wholly inside the signal.
                for t in (config.overlap - 1)...(s.frames - config.overlap) {
                    let row = power[(t * s.bins)..<((t + 1) * s.bins)]
                    let peak = row.indices.max { row[$0] < row[$1] }.map { $0 - t * s.bins }
                    XCTAssertEqual(peak, k, "\(window) k=\(k) frame \(t)")
                }
            }
        }
    }

    func testSpectrogramEnergyIsSignalEnergyTimesWindowOverlap() {
        // Parseval per frame: Σ_i frame[i]² = (1/N)·Σ_f c_f·|X[f]|² with c = 1 at DC and Nyquist, 2 elsewhere.
        // Every sample lies in R frames and Σ_k sqrtHann²(j + k·hop) = Σ_k hann(j + k·hop) = R/2,
        // so the spectrogram holds (R/2)·Σ x².
        for hop in [32, 16] {
            let config = STFTConfig(nFFT: 64, hop: hop, window: .sqrtHann)
            let x = noise(1001, seed: 5)
            let s = STFT(config: config).analyze(x)
            var spectral = 0.0
            for t in 0..<s.frames {
                for f in 0..<s.bins {
                    let re = Double(s.real[t * s.bins + f]), im = Double(s.imag[t * s.bins + f])
                    spectral += (f == 0 || f == s.bins - 1 ? 1 : 2) * (re * re + im * im)
                }
            }
            spectral /= Double(config.nFFT)
            let energy = x.reduce(0.0) { $0 + Double($1) * Double($1) }
            XCTAssertEqual(spectral / (energy * Double(config.overlap) / 2), 1, accuracy: 1e-5, "hop \(hop)")
        }
    }

    // MARK: - Reconstruction

    func testInverseSTFTReconstructsInputTo1e5() {
        for config in configs {
            let stft = STFT(config: config)
            let h = config.hop, size = config.nFFT
            let lengths = [0, 1, 2, h - 1, h, h + 1, size - 1, size, size + 1, 5 * h, 5 * h + 3, 1000]
            for length in lengths {
                let x = noise(length, seed: UInt64(length + 1))
                let s = stft.analyze(x)
                XCTAssertEqual(s.frames, STFT.frameCount(forSamples: length, config: config))
                let y = stft.synthesize(s, length: length)
                XCTAssertEqual(y.count, length, "\(config) length \(length)")
                guard y.count == length, length > 0 else { continue }
                XCTAssertLessThan(relativeRMSError(y, x), 1e-5, "\(config) length \(length)")
            }
        }
    }

    func testReconstructionIsSampleAligned() {
        // An impulse comes back at its own index, not shifted by the padding.
        for config in configs {
            for position in [0, 1, config.hop, 300] {
                var x = [Float](repeating: 0, count: 301)
                x[position] = 1
                let stft = STFT(config: config)
                let y = stft.synthesize(stft.analyze(x), length: x.count)
                let peak = y.indices.max { abs(y[$0]) < abs(y[$1]) }
                XCTAssertEqual(peak, position, "\(config)")
                XCTAssertEqual(y[position], 1, accuracy: 1e-5)
            }
        }
    }

    func testSynthesisIgnoresFramesPastTheRequestedLength() {
        let config = STFTConfig(nFFT: 64, hop: 16)
        let stft = STFT(config: config)
        let x = noise(500, seed: 9)
        let s = stft.analyze(x)
        // A shorter length than the analysis: the first 123 samples, exactly.
        let y = stft.synthesize(s, length: 123)
        XCTAssertEqual(y.count, 123)
        XCTAssertLessThan(relativeRMSError(y, Array(x.prefix(123))), 1e-5)
    }

    // MARK: - Streaming

    func testStreamingInRandomChunksGivesWholeSignalFramesAndOutput() {
        var rng = RandomGenerator(seed: 3)
        for config in configs where config.nFFT == 64 {
            let stft = STFT(config: config)
            let analyzer = STFTAnalyzer(config: config)
            let synthesizer = STFTSynthesizer(config: config)
            for length in [0, 1, 37, 300] {
                let x = noise(length, seed: 17)
                let whole = stft.analyze(x)
                let wholeOutput = stft.synthesize(whole, length: length)
                // Twice, with different chunkings, to check that reset() really starts over.
                for _ in 0..<2 {
                    analyzer.reset()
                    synthesizer.reset()
                    var frames = Spectrogram(frames: 0, bins: config.bins)
                    var output = [Float]()
                    var pushed = 0
                    while pushed < length {
                        // Chunks of 0 to 2·nFFT samples: empty, shorter than a hop and spanning frames.
                        let chunk = min(Int(rng.next() % UInt64(2 * config.nFFT + 1)), length - pushed)
                        x[pushed..<(pushed + chunk)].withUnsafeBufferPointer { analyzer.push($0, into: &frames) }
                        pushed += chunk
                        XCTAssertEqual(analyzer.framesEmitted, pushed / config.hop, "a frame is out once complete")
                        // Synthesize each frame as soon as it exists, as a streaming denoiser does.
                        while synthesizer.framesPushed < frames.frames {
                            synthesizer.push(frames, frame: synthesizer.framesPushed, into: &output)
                        }
                        XCTAssertLessThanOrEqual(output.count, pushed)
                        XCTAssertLessThan(pushed - output.count, config.nFFT, "latency: less than one frame")
                    }
                    XCTAssertEqual(analyzer.samplesPushed, length)
                    analyzer.finish(into: &frames)
                    while synthesizer.framesPushed < frames.frames {
                        synthesizer.push(frames, frame: synthesizer.framesPushed, into: &output)
                    }
                    // Tail frames may emit up to a frame past the end; finish takes that back off.
                    XCTAssertLessThan(output.count, length + config.nFFT)
                    synthesizer.finish(totalLength: length, into: &output)
                    XCTAssertEqual(frames, whole, "\(config) length \(length)")
                    XCTAssertEqual(output, wholeOutput, "\(config) length \(length)")
                }
            }
        }
    }

    // MARK: - Threads

    func testConcurrentAnalyzeSynthesizeMatchesSingleThreaded() {
        // Sizes no other test uses, so that their FFTW plans are first made here, from several threads.
        let configs = [
            STFTConfig(nFFT: 200, hop: 50, window: .hann),
            STFTConfig(nFFT: 232, hop: 116, window: .sqrtHann),
            STFTConfig(nFFT: 264, hop: 66, window: .sqrtHann),
            STFTConfig(nFFT: 296, hop: 148, window: .hann),
        ]
        let signals = (0..<3).map { noise(1500 + 37 * $0, seed: UInt64(100 + $0)) }
        let shared = configs.map { STFT(config: $0) }
        let runs = 24
        @Sendable func job(_ i: Int, sharing: Bool) -> (Spectrogram, [Float]) {
            let c = i % configs.count
            // Half the runs make their own STFT, half use one shared between threads.
            let stft = sharing && i % 2 == 0 ? shared[c] : STFT(config: configs[c])
            let x = signals[(i / configs.count) % signals.count]
            let s = stft.analyze(x)
            return (s, stft.synthesize(s, length: x.count))
        }
        let results = Mutex([(Spectrogram, [Float])?](repeating: nil, count: runs))
        DispatchQueue.concurrentPerform(iterations: runs) { i in
            let result = job(i, sharing: true)
            results.withLock { $0[i] = result }
        }
        for i in 0..<runs {
            guard let (s, y) = results.withLock({ $0[i] }) else { return XCTFail("run \(i) produced nothing") }
            let (expectedS, expectedY) = job(i, sharing: false)
            XCTAssertEqual(s, expectedS, "run \(i)")
            XCTAssertEqual(y, expectedY, "run \(i)")
            XCTAssertLessThan(relativeRMSError(y, signals[(i / configs.count) % signals.count]), 1e-5)
        }
    }
}
