import Foundation
import XCTest
@testable import DenoiseKit

/// The real-time side of `Denoiser`: the frame-by-frame path for causal models, and the fixed-latency entry point.
final class FixedLatencyTests: XCTestCase {
    private func bundledRealTimeModel() throws -> DenoiseModel {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let url = root.appendingPathComponent("samples/denoise-realtime.safetensors")
        guard FileManager.default.fileExists(atPath: url.path) else { throw XCTSkip("no bundled model at \(url.path)") }
        return try DenoiseModel.load(url: url)
    }

    private func tinyCausalModel(seed: UInt64 = 5, inputNorm: InputNormKind = .batch, inputBands: Int? = nil,
                                 floorBands: Int? = nil) throws -> DenoiseModel {
        let stft = STFTConfig(nFFT: 64, hop: 32)
        let config = MaskNetConfig(kind: .cnn, bins: stft.bins, hidden: 8, kernelSize: 3, dilations: [1, 2, 4],
                                   residual: true, causal: true, inputNorm: inputNorm, inputBands: inputBands,
                                   floorBands: floorBands)
        return try DenoiseModel(config: config, stft: stft, sampleRate: 16000, seed: seed)
    }

    func testFrameByFramePathGivesTheWindowedPathsOutputWithTheBundledModel() throws {
        let model = try bundledRealTimeModel()
        XCTAssertTrue(MaskNetStream.canStream(model.net.config))
        for rate in [16000, 48000] {
            let input = AudioBuffer(mono: TestSignals.noisySpeech(seconds: 3, rate: rate), sampleRate: rate)
            let stepped = Denoiser.enhance(input, model: model).channels[0]
            let windowed = Denoiser(model: model, channelCount: 1, sampleRate: rate, options: DenoiserOptions(),
                                    stepsFrames: false)
            let reference = windowed.process(input).channels[0] + windowed.finish().channels[0]
            XCTAssertEqual(stepped.count, input.frameCount)
            XCTAssertEqual(reference.count, input.frameCount)
            XCTAssertLessThan(TestSignals.maxDifference(stepped[...], reference[...]), 1e-5, "\(rate) Hz")
            // The model does something: the comparison is not between two copies of the input.
            XCTAssertGreaterThan(TestSignals.maxDifference(stepped[...], input.channels[0][...]), 1e-2, "\(rate) Hz")
        }
    }

    /// With one mask per channel each channel has its own stream; the two paths still agree.
    func testFrameByFramePathKeepsOneStreamPerChannelWhenMasksArePerChannel() throws {
        let model = try tinyCausalModel()
        let left = TestSignals.noisySpeech(seconds: 0.5, rate: 48000)
        let right = TestSignals.whiteNoise(count: left.count, seed: 4)
        let input = AudioBuffer(channels: [left, right], sampleRate: 48000)
        let options = DenoiserOptions(perChannel: true)
        let stepped = Denoiser.enhance(input, model: model, options: options)
        let windowed = Denoiser(model: model, channelCount: 2, sampleRate: 48000, options: options, stepsFrames: false)
        let head = windowed.process(input), tail = windowed.finish()
        for ch in 0..<2 {
            let reference = head.channels[ch] + tail.channels[ch]
            XCTAssertLessThan(TestSignals.maxDifference(stepped.channels[ch][...], reference[...]), 1e-5,
                              "channel \(ch)")
        }
        let shared = Denoiser.enhance(input, model: model)
        XCTAssertGreaterThan(TestSignals.maxDifference(shared.channels[0][...], stepped.channels[0][...]), 1e-4)
    }

    /// output[n + latencySamples] = enhance(input)[n], at the model's rate, above it (a native-rate STFT) and below
    /// it (resampled), in blocks from one sample to several hops; zeros before.
    func testFixedLatencyOutputIsTheEnhancedSignalDelayedByLatencySamples() throws {
        let model = try tinyCausalModel()
        let sizes = [1, 7, 500, 3, 64, 2000, 31]
        for rate in [16000, 48000, 44100, 8000, 11025] {
            for options in [DenoiserOptions(), DenoiserOptions(attenuationLimitDB: 6, mix: 0.7)] {
                let input = TestSignals.noisySpeech(seconds: 0.5, rate: rate)
                let expected = Denoiser.enhance(AudioBuffer(mono: input, sampleRate: rate), model: model,
                                                options: options).channels[0]
                let denoiser = Denoiser(model: model, channelCount: 1, sampleRate: rate, options: options)
                let latency = try XCTUnwrap(denoiser.latencySamples)
                let output = TestSignals.fixedLatencyOutput(denoiser, input, sizes: sizes)
                XCTAssertEqual(output[..<latency].filter { $0 != 0 }.count, 0, "\(rate) Hz")
                let diff = TestSignals.maxDifference(output[latency...], expected[..<(input.count - latency)])
                XCTAssertLessThan(diff, 1e-5, "\(rate) Hz, \(options)")
            }
        }
        // At the model's rate and above: the analysis frame less one sample, no look-ahead.
        XCTAssertEqual(Denoiser(model: model, channelCount: 1, sampleRate: 16000).latencySamples, 63)
        XCTAssertEqual(Denoiser(model: model, channelCount: 1, sampleRate: 48000).latencySamples, 191)
    }

    /// The latency is the least that works: one sample less and some output would be needed before it is ready.
    func testLatencyIsTheLeastThePipelineAllows() throws {
        let model = try tinyCausalModel()
        for rate in [16000, 8000, 11025] {
            let input = TestSignals.noisySpeech(seconds: 0.2, rate: rate)
            let denoiser = Denoiser(model: model, channelCount: 1, sampleRate: rate)
            let latency = try XCTUnwrap(denoiser.latencySamples)
            var produced = 0, worst = 0
            for n in 0..<input.count {
                produced += denoiser.process(AudioBuffer(mono: [input[n]], sampleRate: rate)).frameCount
                worst = max(worst, n + 1 - produced)
            }
            XCTAssertEqual(worst, latency, "\(rate) Hz")
        }
    }

    /// A model with look-ahead (non-causal, frame-local) works too, its latency counting the look-ahead and the
    /// chunk the network waits for.
    func testNonCausalFrameLocalModelHasAFixedLatencyToo() throws {
        let model = try TestSignals.tinyModel(.cnn, residual: true)
        let rate = 16000, input = TestSignals.noisySpeech(seconds: 0.5, rate: rate)
        let options = DenoiserOptions(chunkFrames: 3)
        let expected = Denoiser.enhance(AudioBuffer(mono: input, sampleRate: rate), model: model, options: options)
        let denoiser = Denoiser(model: model, channelCount: 1, sampleRate: rate, options: options)
        let latency = try XCTUnwrap(denoiser.latencySamples)
        XCTAssertEqual(latency, 63 + (3 - 1 + model.net.config.lookAheadFrames) * 32)
        let output = TestSignals.fixedLatencyOutput(denoiser, input, sizes: [5, 100, 1])
        let aligned = expected.channels[0][..<(input.count - latency)]
        XCTAssertLessThan(TestSignals.maxDifference(output[latency...], aligned), 1e-5)
        XCTAssertNil(Denoiser(model: try TestSignals.tinyModel(.cnn, norm: .group), channelCount: 1,
                              sampleRate: rate).latencySamples)
    }

    /// Mix and attenuation limit are live: a mix of 0 set mid-stream gives the delayed input exactly from the next
    /// sample on.
    func testMixChangesBetweenCalls() throws {
        let model = try tinyCausalModel()
        let input = TestSignals.noisySpeech(seconds: 0.3, rate: 16000)
        let denoiser = Denoiser(model: model, channelCount: 1, sampleRate: 16000)
        let latency = try XCTUnwrap(denoiser.latencySamples)
        let half = input.count / 2
        var output = TestSignals.fixedLatencyOutput(denoiser, Array(input[..<half]), sizes: [100])
        denoiser.mix = 0
        denoiser.attenuationLimitDB = 3
        output += TestSignals.fixedLatencyOutput(denoiser, Array(input[half...]), sizes: [100])
        XCTAssertEqual(Array(output[half...]), Array(input[(half - latency) ..< (input.count - latency)]))
        XCTAssertNotEqual(Array(output[latency ..< half]), Array(input[..<(half - latency)]))
    }

    /// In place (one buffer as input and output, as a LADSPA host may pass it): the output of separate buffers.
    func testInPlaceProcessGivesTheOutputOfSeparateBuffers() throws {
        let model = try tinyCausalModel()
        let rate = 48000, input = TestSignals.noisySpeech(seconds: 0.3, rate: rate), block = 333
        let separate = TestSignals.fixedLatencyOutput(Denoiser(model: model, channelCount: 1, sampleRate: rate),
                                                      input, sizes: [block])
        let denoiser = Denoiser(model: model, channelCount: 1, sampleRate: rate)
        var samples = input
        samples.withUnsafeMutableBufferPointer { buffer in
            for start in stride(from: 0, to: input.count, by: block) {
                let end = min(start + block, input.count)
                var span = UnsafeMutableBufferPointer(rebasing: buffer[start..<end]).mutableSpan
                denoiser.process(&span)
            }
        }
        XCTAssertEqual(samples, separate)
        XCTAssertNotEqual(samples, input)
    }

    /// Planar stereo: each channel as the mono path would give it with a shared mask, i.e. as `enhance` does.
    func testPlanarStereoMatchesEnhance() throws {
        let model = try tinyCausalModel()
        let rate = 48000
        let left = TestSignals.noisySpeech(seconds: 0.3, rate: rate)
        let right = TestSignals.whiteNoise(count: left.count, seed: 8)
        let expected = Denoiser.enhance(AudioBuffer(channels: [left, right], sampleRate: rate), model: model)
        let denoiser = Denoiser(model: model, channelCount: 2, sampleRate: rate)
        let latency = try XCTUnwrap(denoiser.latencySamples)
        var outLeft = [Float](repeating: 0, count: left.count), outRight = outLeft
        let block = 333
        for start in stride(from: 0, to: left.count, by: block) {
            let end = min(start + block, left.count)
            left.withUnsafeBufferPointer { l in
                right.withUnsafeBufferPointer { r in
                    outLeft.withUnsafeMutableBufferPointer { ol in
                        outRight.withUnsafeMutableBufferPointer { or in
                            denoiser.process([UnsafeBufferPointer(rebasing: l[start..<end]),
                                              UnsafeBufferPointer(rebasing: r[start..<end])],
                                             into: [UnsafeMutableBufferPointer(rebasing: ol[start..<end]),
                                                    UnsafeMutableBufferPointer(rebasing: or[start..<end])])
                        }
                    }
                }
            }
        }
        let n = left.count - latency
        XCTAssertLessThan(TestSignals.maxDifference(outLeft[latency...], expected.channels[0][..<n]), 1e-5)
        XCTAssertLessThan(TestSignals.maxDifference(outRight[latency...], expected.channels[1][..<n]), 1e-5)
    }

    /// Once running, `process(_:into:)` allocates nothing, at the model's rate, above it and below it (resampled),
    /// whatever the block size (FFTW permitting, see below).
    /// Needs the allocation counter of .ci/alloc-count.c preloaded (see there); skips otherwise.
    func testFixedLatencyProcessAllocatesNothingOnceRunning() throws {
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "denoise_thread_allocations") else {
            throw XCTSkip("the allocation counter is not preloaded (.ci/alloc-count.c)")
        }
        let allocations = unsafeBitCast(symbol, to: (@convention(c) () -> Int).self)
        // The running input norm and the noise floor keep a state per stream, and the band input a pooled frame:
        // they too must be allocated up front.
        let models = [try tinyCausalModel(), try tinyCausalModel(inputNorm: .running),
                      try tinyCausalModel(inputNorm: .running, inputBands: 12), try tinyCausalModel(floorBands: 8)]
            + ((try? bundledRealTimeModel()).map { [$0] } ?? [])
        // Streams with digital silence too (a muted microphone), at the start and in a pause: silent frames, the
        // first sound after them and the restart of the network pass while the count runs.
        for model in models {
            // 44.1 and 22.05 kHz included: their frame lengths are chosen so FFTW needs no scratch (`BandPlan`).
            for rate in [16000, 48000, 44100, 32000, 22050, 8000, 11025] {
                let speech = TestSignals.noisySpeech(seconds: 1.5, rate: rate)
                let zeros = { [Float](repeating: 0, count: $0) }
                // In this order: the process's first network steps (OpenBLAS's buffers, runtime metadata) fall in
                // the first input's warm-up.
                let inputs = [("no silence", speech), ("0.125 s of zeros first", zeros(rate / 8) + speech),
                              ("a pause", Array(speech.prefix(2500)) + zeros(max(2500, rate / 10)) + speech)]
                for (silence, input) in inputs {
                    let denoiser = Denoiser(model: model, channelCount: 1, sampleRate: rate,
                                            options: DenoiserOptions(attenuationLimitDB: 12, mix: 0.8))
                    var output = [Float](repeating: 0, count: input.count)
                    output.withUnsafeMutableBufferPointer { y in
                        var position = 0
                        func run(_ n: Int) {
                            var block = UnsafeMutableBufferPointer(rebasing: y[position ..< position + n]).mutableSpan
                            denoiser.process(input.span.extracting(position ..< position + n), into: &block)
                            position += n
                        }
                        let sizes = [1, 767, 768, 5000, 3, 1536]
                        run(2000)  // warm-up: first products, first frames
                        let before = allocations()
                        for i in 0..<sizes.count { run(sizes[i]) }
                        denoiser.mix = 0.5
                        denoiser.attenuationLimitDB = nil
                        run(800)
                        let used = allocations() - before
                        XCTAssertEqual(used, 0, "\(rate) Hz, \(silence), "
                                       + "\(model.net.config.hidden) channels, "
                                       + "\(model.net.config.inputNorm) input norm, "
                                       + "\(model.net.config.inputBands.map(String.init) ?? "no") input bands, "
                                       + "\(model.net.config.floorBands.map(String.init) ?? "no") floor bands")
                    }
                }
            }
        }
    }
}
