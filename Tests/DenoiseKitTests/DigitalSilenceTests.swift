import Foundation
import XCTest
@testable import DenoiseKit

/// Input that opens in digital silence: the denoiser puts the silence out as silence and starts the network at the
/// first frame with sound, so what follows is denoised as the input without the silence would be. A causal model's
/// stream skips later pauses of digital silence too.
final class DigitalSilenceTests: XCTestCase {
    /// Input samples from one analysis frame to the next at `rate`, and in one frame.
    private func frameSamples(_ model: DenoiseModel, rate: Int) -> (hop: Int, length: Int) {
        let stft = Denoiser(model: model, channelCount: 1, sampleRate: rate).analysisSTFT
        return (stft.hop, stft.nFFT)
    }

    /// A causal CNN with the stateful inputs (running norm, noise floor), and one with look-ahead and bands too.
    private func causalModel() throws -> DenoiseModel {
        try TestSignals.randomizedModel(.cnn, causal: true, inputNorm: .running, floorBands: 8)
    }

    private func lookAheadModel() throws -> DenoiseModel {
        try TestSignals.randomizedModel(.cnn, causal: false, inputNorm: .running, bands: 12, floorBands: 8)
    }

    private func models() throws -> [(String, DenoiseModel)] {
        [
            ("causal, running norm, floor", try causalModel()),
            ("look-ahead, bands, floor", try lookAheadModel()),
            ("mlp, batch norm", try TestSignals.randomizedModel(.mlp, causal: false, inputNorm: .batch)),
        ]
    }

    /// Thirteen frames of exact zeros before an input: they come out as exact zeros (but for a frame's length before
    /// the sound, which the synthesis window of its first frame reaches into), and the rest is the input's output
    /// alone, on every path (frame steps, windows with history and look-ahead, stateful inputs), at the model's rate
    /// and above it. After the first sound, a pause does not restart the network: the input after it is not denoised
    /// as if alone. (Below the model's rate the resampler's filter rings ahead of the
    /// first sound into the zeros, so the network starts on the ringing, a frame early: close to the output alone,
    /// not the same.)
    func testLeadingZerosAreSilenceAndTheNetworkStartsAtTheFirstSound() throws {
        for (label, model) in try models() {
            for rate in [16000, 48000] {
                let frame = frameSamples(model, rate: rate), zeros = [Float](repeating: 0, count: 13 * frame.hop)
                let speech = TestSignals.noisySpeech(seconds: 0.9, rate: rate)
                let first = Array(speech.prefix(20 * frame.hop)), second = Array(speech.suffix(rate / 3))
                var paths = [("windows of 3", 3, false), ("windows of 8", 8, false)]
                if model.net.config.causal { paths.append(("steps", 1024, true)) }
                for (path, chunk, steps) in paths {
                    let what = "\(label), \(rate) Hz, \(path)"
                    let run = {
                        TestSignals.denoised($0, model: model, rate: rate, chunkFrames: chunk, stepsFrames: steps).0
                    }
                    let alone = run(first), padded = run(zeros + first)
                    XCTAssertEqual(padded.count, zeros.count + first.count, what)
                    XCTAssertTrue(padded[..<(zeros.count - frame.length)].allSatisfy { $0 == 0 }, what)
                    XCTAssertLessThan(TestSignals.maxDifference(padded[zeros.count...], alone[...]), 1e-5, what)
                    XCTAssertGreaterThan(TestSignals.maxDifference(alone[...], first[...]), 1e-3, what)
                    // A pause: with a stateful input, the second part carries the first part's state, so it is
                    // not its output alone (the MLP's two frames of context do not reach across the pause).
                    guard model.net.hasStatefulInput else { continue }
                    let paused = run(first + zeros + second), start = first.count + zeros.count
                    XCTAssertGreaterThan(TestSignals.maxDifference(paused[start...], run(second)[...]), 1e-4, what)
                }
            }
        }
    }

    /// After the first sound, a causal model's stream skips digital silence: the pause comes out as zeros (but for a
    /// frame's length at each edge, which frames with sound reach into) and what follows does not depend on the
    /// pause's length, on the step path and the fixed-latency one, nor on how the input arrives. A model with
    /// look-ahead hears the pause: there its length changes what follows.
    func testACausalStreamSkipsPausesOfDigitalSilence() throws {
        let model = try causalModel()
        let frame = frameSamples(model, rate: 16000), speech = TestSignals.noisySpeech(seconds: 0.9, rate: 16000)
        let first = Array(speech.prefix(5000)), second = Array(speech.suffix(6000))
        func paused(_ frames: Int) -> [Float] { first + [Float](repeating: 0, count: frames * frame.hop) + second }
        let short = TestSignals.denoised(paused(20), model: model).audio
        let long = TestSignals.denoised(paused(90), model: model).audio
        let pause = (first.count + frame.length)..<(first.count + 90 * frame.hop - frame.length)
        XCTAssertTrue(long[pause].allSatisfy { $0 == 0 }, "the pause comes out as zeros")
        XCTAssertLessThan(TestSignals.maxDifference(short.suffix(second.count)[...], long.suffix(second.count)[...]),
                          1e-5, "the same output after a pause of 20 frames and of 90")
        XCTAssertGreaterThan(TestSignals.maxDifference(long.suffix(second.count)[...], second[...]), 1e-3)
        let whole = TestSignals.denoised(paused(90), model: model, pieces: [paused(90).count]).audio
        XCTAssertLessThan(TestSignals.maxDifference(whole[...], long[...]), 1e-5, "however the input arrives")
        let fixed = { (frames: Int) throws -> [Float] in
            let denoiser = Denoiser(model: model, channelCount: 1, sampleRate: 16000)
            let latency = try XCTUnwrap(denoiser.latencySamples)
            let input = paused(frames) + [Float](repeating: 0, count: latency)
            let output = TestSignals.fixedLatencyOutput(denoiser, input, sizes: [1, 7, 500, 3, 64, 2000, 31])
            return Array(output.suffix(second.count + latency).prefix(second.count))
        }
        XCTAssertLessThan(TestSignals.maxDifference(try fixed(20)[...], try fixed(90)[...]), 1e-5, "fixed latency")
        let lookAhead = try lookAheadModel()
        let windowed = { (frames: Int) in
            TestSignals.denoised(paused(frames), model: lookAhead, chunkFrames: 8).audio.suffix(second.count)
        }
        XCTAssertGreaterThan(TestSignals.maxDifference(windowed(20)[...], windowed(90)[...]), 1e-4,
                             "with look-ahead the pause goes through the network")
    }

    /// In a pause after the first sound a causal stream's speech probability is 0; around it the head still speaks.
    func testSpeechProbabilityIsZeroInACausalPause() throws {
        let model = try TestSignals.tinyModel(.cnn, residual: true, causal: true, speechHead: true)
        let frame = frameSamples(model, rate: 16000), speech = TestSignals.noisySpeech(seconds: 0.5, rate: 16000)
        let input = Array(speech.prefix(4000)) + [Float](repeating: 0, count: 40 * frame.hop) + speech.suffix(4000)
        let probabilities = TestSignals.denoised(input, model: model, chunkFrames: 3).speech
        let pause = (4000 / frame.hop + 2)..<(4000 / frame.hop + 38)
        XCTAssertEqual(Array(probabilities[pause]), [Float](repeating: 0, count: pause.count))
        XCTAssertTrue(probabilities[..<pause.lowerBound].contains { $0 > 0.01 })
        XCTAssertTrue(probabilities[pause.upperBound...].contains { $0 > 0.01 })
    }

    /// Dither of ±1 step of 16-bit audio, as a silent export carries, is digital silence too: after thirteen frames
    /// of it the input is denoised as alone (to the dither inside the first frame with sound), and the dither comes
    /// out as zeros. A tone at −70 dBFS is sound: it goes through the network and comes out changed, not zeroed.
    func testDitherIsSilenceAndAQuietToneIsNot() throws {
        let model = try lookAheadModel()
        let input = TestSignals.noisySpeech(seconds: 0.5, rate: 16000), frames = 13 * 32
        var rng = RandomGenerator(seed: 4)
        let dither = (0..<frames).map { _ in Float(Int(rng.uniform(0, 3)) - 1) / 32768 }
        XCTAssertTrue(dither.contains { $0 != 0 })
        let alone = TestSignals.denoised(input, model: model, chunkFrames: 3).0
        let afterDither = TestSignals.denoised(dither + input, model: model, chunkFrames: 3).0
        XCTAssertTrue(afterDither[..<(frames - 64)].allSatisfy { $0 == 0 })
        XCTAssertLessThan(TestSignals.maxDifference(afterDither[frames...], alone[...]), 1e-3)
        let amplitude = Float(pow(10, -70.0 / 20) * 2.0.squareRoot())
        let tone = (0..<frames).map { amplitude * sin(Float($0) * 0.3) }
        let afterTone = TestSignals.denoised(tone + input, model: model, chunkFrames: 3).0
        XCTAssertTrue(afterTone[64..<(frames - 64)].contains { $0 != 0 }, "the tone reached the output")
        XCTAssertGreaterThan(TestSignals.maxDifference(afterTone[frames...], alone[...]), 1e-4,
                             "one utterance with the tone: the network saw it")
    }

    /// The fixed-latency path too: after the latency and the zeros, the same samples as without the zeros.
    func testFixedLatencyOutputAfterZerosIsTheOutputWithoutThem() throws {
        let model = try causalModel()
        func run(_ input: [Float]) throws -> ([Float], Int) {
            let denoiser = Denoiser(model: model, channelCount: 1, sampleRate: 16000)
            let output = TestSignals.fixedLatencyOutput(denoiser, input, sizes: [1, 7, 500, 3, 64, 2000, 31])
            return (output, try XCTUnwrap(denoiser.latencySamples))
        }
        let input = TestSignals.noisySpeech(seconds: 0.5, rate: 16000), zeros = [Float](repeating: 0, count: 13 * 32)
        let (alone, latency) = try run(input)
        let padded = try run(zeros + input).0
        XCTAssertTrue(padded[..<(latency + zeros.count - 64)].allSatisfy { $0 == 0 })
        XCTAssertLessThan(TestSignals.maxDifference(padded[(latency + zeros.count)...], alone[latency...]), 1e-5)
    }

    /// The speech probability of a leading silent frame is 0; the frames after it have the probabilities of the input
    /// alone.
    func testSpeechProbabilityIsZeroInSilenceAndUnchangedAfter() throws {
        let model = try TestSignals.tinyModel(.cnn, residual: true, speechHead: true)
        let input = TestSignals.noisySpeech(seconds: 0.5, rate: 16000), frames = 13
        let alone = TestSignals.denoised(input, model: model, chunkFrames: 3).1
        let padded = TestSignals.denoised([Float](repeating: 0, count: frames * 32) + input, model: model,
                                          chunkFrames: 3).1
        XCTAssertEqual(padded.count, alone.count + frames)
        XCTAssertEqual(Array(padded.prefix(frames)), [Float](repeating: 0, count: frames))
        XCTAssertLessThan(TestSignals.maxDifference(padded[frames...], alone[...]), 1e-5)
        XCTAssertTrue(alone.contains { $0 > 0.01 }, "the head says something about the input")
    }

    /// Input that is silent throughout comes out as silence of its length, every frame's speech probability 0.
    func testAllSilentInputIsSilentOutput() throws {
        let model = try TestSignals.tinyModel(.cnn, residual: true, speechHead: true)
        let (output, speech) = TestSignals.denoised([Float](repeating: 0, count: 4801), model: model, chunkFrames: 3)
        XCTAssertEqual(output.count, 4801)
        XCTAssertTrue(output.allSatisfy { $0 == 0 })
        XCTAssertFalse(speech.isEmpty)
        XCTAssertTrue(speech.allSatisfy { $0 == 0 })
    }
}
