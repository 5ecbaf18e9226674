import XCTest
@testable import DenoiseKit

final class DenoiserTests: XCTestCase {
    private func chunked(_ input: AudioBuffer, model: DenoiseModel, options: DenoiserOptions,
                         sizes: [Int]) -> AudioBuffer {
        let denoiser = Denoiser(model: model, channelCount: input.channelCount, sampleRate: input.sampleRate,
                                options: options)
        var out = Array(repeating: [Float](), count: input.channelCount)
        var position = 0, i = 0
        while position < input.frameCount {
            let n = min(sizes[i % sizes.count], input.frameCount - position)
            let piece = AudioBuffer(channels: input.channels.map { Array($0[position ..< position + n]) },
                                    sampleRate: input.sampleRate)
            let result = denoiser.process(piece)
            for c in 0..<input.channelCount { out[c] += result.channels[c] }
            position += n
            i += 1
        }
        let tail = denoiser.finish()
        for c in 0..<input.channelCount { out[c] += tail.channels[c] }
        return AudioBuffer(channels: out, sampleRate: input.sampleRate)
    }

    func testChunkedOutputEqualsWholeFileProcessing() throws {
        let signal = zip(TestSignals.speechLike(seconds: 0.6), TestSignals.whiteNoise(count: 9600)).map { $0 + $1 }
        let input = AudioBuffer(mono: signal, sampleRate: 16000)
        for (kind, residual) in [(MaskNetKind.mlp, false), (.cnn, false), (.cnn, true)] {
            let model = try TestSignals.tinyModel(kind, residual: residual)
            let whole = chunked(input, model: model, options: DenoiserOptions(chunkFrames: 100_000),
                                sizes: [input.frameCount])
            let pieces = chunked(input, model: model, options: DenoiserOptions(chunkFrames: 7),
                                 sizes: [1, 333, 50, 4000, 17])
            XCTAssertEqual(whole.frameCount, input.frameCount)
            XCTAssertEqual(pieces.frameCount, input.frameCount)
            let diff = zip(whole.channels[0], pieces.channels[0]).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThan(diff, 1e-5, "\(kind) residual \(residual)")
        }
    }

    func testStereo44kInGivesStereo44kOutOfTheSameLength() throws {
        let model = try TestSignals.tinyModel(.mlp)
        let left = TestSignals.speechLike(seconds: 0.3, sampleRate: 44100)
        let right = TestSignals.whiteNoise(count: left.count)
        let input = AudioBuffer(channels: [left, right], sampleRate: 44100)
        let output = Denoiser.enhance(input, model: model)
        XCTAssertEqual(output.channelCount, 2)
        XCTAssertEqual(output.sampleRate, 44100)
        XCTAssertEqual(output.frameCount, input.frameCount)
        XCTAssertTrue(output.channels.joined().allSatisfy(\.isFinite))
    }

    /// A model that removes everything, limited to 6 dB, must leave exactly half the amplitude.
    func testAttenuationLimitNeverAttenuatesMoreThanTheLimit() throws {
        let model = try TestSignals.tinyModel(.mlp)
        let bias = model.net.store.entry(named: "output.linear.bias")!
        for i in 0..<bias.count { model.net.store.values[bias.offset + i] = -40 }
        let weight = model.net.store.entry(named: "output.linear.weight")!
        for i in 0..<weight.count { model.net.store.values[weight.offset + i] = 0 }
        let input = AudioBuffer(mono: TestSignals.speechLike(seconds: 0.5), sampleRate: 16000)
        let limited = Denoiser.enhance(input, model: model, options: DenoiserOptions(attenuationLimitDB: 6))
        let floor = Float(pow(10, -6.0 / 20))
        let stft = STFT(config: model.stft)
        let a = stft.analyze(input.channels[0]), b = stft.analyze(limited.channels[0])
        let powerIn = zip(a.real, a.imag).map { $0 * $0 + $1 * $1 }
        // Bins far below the loudest carry only float rounding; judge the ones that carry signal.
        let audible = powerIn.max()! * 1e-6
        for i in 0..<a.real.count {
            let pin = powerIn[i]
            let pout = b.real[i] * b.real[i] + b.imag[i] * b.imag[i]
            guard pin > audible else { continue }
            XCTAssertGreaterThanOrEqual(pout / pin, floor * floor * 0.999)
        }
        let unlimited = Denoiser.enhance(input, model: model)
        XCTAssertLessThan(unlimited.channels[0].map { abs($0) }.max()!, 1e-6)
    }

    /// A tiny MLP whose mask is σ(`logit`) in every bin: its output layer's weights zero, its biases `logit`.
    private func constantMaskModel(logit: Float) throws -> DenoiseModel {
        let model = try TestSignals.tinyModel(.mlp)
        let weight = model.net.store.entry(named: "output.linear.weight")!
        let bias = model.net.store.entry(named: "output.linear.bias")!
        for i in 0..<weight.count { model.net.store.values[weight.offset + i] = 0 }
        for i in 0..<bias.count { model.net.store.values[bias.offset + i] = logit }
        model.net.store.markValuesChanged()
        return model
    }

    /// The gain `model` applies with `options` to speech-like input: the STFT round trip is exact away from the
    /// edges, so the output there is the input times the gain.
    private func gain(of model: DenoiseModel, _ options: DenoiserOptions) -> Float {
        let input = AudioBuffer(mono: TestSignals.speechLike(seconds: 0.5), sampleRate: 16000)
        let output = Denoiser.enhance(input, model: model, options: options).channels[0]
        let middle = 1000..<(input.frameCount - 1000)
        let num = middle.reduce(Float(0)) { $0 + output[$1] * input.channels[0][$1] }
        let den = middle.reduce(Float(0)) { $0 + input.channels[0][$1] * input.channels[0][$1] }
        return num / den
    }

    /// A model whose mask is 0.5 everywhere: the exponent scales the output by 0.5^G, the model's own exponent
    /// is the default, an explicit one overrides it, and the attenuation limit still holds after it.
    func testMaskExponentRaisesTheMaskBeforeTheAttenuationLimit() throws {
        let model = try constantMaskModel(logit: 0)
        func gain(_ options: DenoiserOptions) -> Float { self.gain(of: model, options) }
        XCTAssertEqual(gain(DenoiserOptions()), 0.5, accuracy: 1e-4)
        XCTAssertEqual(gain(DenoiserOptions(maskExponent: 2)), 0.25, accuracy: 1e-4)
        XCTAssertEqual(gain(DenoiserOptions(maskExponent: 0.5)), Float(0.5).squareRoot(), accuracy: 1e-4)
        model.maskExponent = 3
        XCTAssertEqual(gain(DenoiserOptions()), 0.125, accuracy: 1e-4)
        XCTAssertEqual(gain(DenoiserOptions(maskExponent: 1)), 0.5, accuracy: 1e-4)
        XCTAssertEqual(gain(DenoiserOptions(attenuationLimitDB: 12)), Float(pow(10, -12.0 / 20)), accuracy: 1e-4)
    }

    /// A model that masks everything away: its own attenuation limit is the default floor, the options' overrides
    /// it, `.infinity` lifts it, and the live control starts at the limit in force.
    func testTheModelsAttenuationLimitIsTheDefaultAndTheOptionsOverrideIt() throws {
        let model = try constantMaskModel(logit: -40)  // σ(−40): a mask of 0
        func gain(_ options: DenoiserOptions) -> Float { self.gain(of: model, options) }
        XCTAssertEqual(gain(DenoiserOptions()), 0, accuracy: 1e-6)
        model.attenuationLimitDB = 20
        XCTAssertEqual(gain(DenoiserOptions()), 0.1, accuracy: 1e-4)
        XCTAssertEqual(gain(DenoiserOptions(attenuationLimitDB: 6)), Float(pow(10, -6.0 / 20)), accuracy: 1e-4)
        XCTAssertEqual(gain(DenoiserOptions(attenuationLimitDB: .infinity)), 0, accuracy: 1e-6)
        let live = Denoiser(model: model, channelCount: 1, sampleRate: 16000)
        XCTAssertEqual(live.attenuationLimitDB, 20)
        live.attenuationLimitDB = .infinity
        XCTAssertEqual(live.attenuationLimitDB, .infinity)
        live.attenuationLimitDB = nil
        XCTAssertEqual(live.attenuationLimitDB, 20, "nil is the model's own, as in the options")
        XCTAssertEqual(Denoiser(model: model, channelCount: 1, sampleRate: 16000,
                                options: DenoiserOptions(attenuationLimitDB: 3)).attenuationLimitDB, 3)
    }

    func testMixZeroReturnsTheInput() throws {
        let model = try TestSignals.tinyModel(.cnn)
        let input = AudioBuffer(mono: TestSignals.speechLike(seconds: 0.4), sampleRate: 16000)
        let output = Denoiser.enhance(input, model: model, options: DenoiserOptions(mix: 0))
        for (x, y) in zip(input.channels[0], output.channels[0]) { XCTAssertEqual(x, y, accuracy: 1e-5) }
    }

    func testHostileSignalsGiveFiniteOutputOfTheSameLength() throws {
        let model = try TestSignals.tinyModel(.cnn)
        let n = 5000
        let signals: [String: [Float]] = [
            "silence": [Float](repeating: 0, count: n),
            "square": (0..<n).map { ($0 / 40) % 2 == 0 ? 1 : -1 },
            "dc": [Float](repeating: 0.7, count: n),
            "clipped": (0..<n).map { max(-1, min(1, 3 * sin(Float($0) * 0.05))) },
            "one sample": [0.5],
        ]
        for (name, samples) in signals {
            let output = Denoiser.enhance(AudioBuffer(mono: samples, sampleRate: 16000), model: model)
            XCTAssertEqual(output.frameCount, samples.count, name)
            XCTAssertTrue(output.channels[0].allSatisfy(\.isFinite), name)
        }
    }

    /// A causal model's output for a sample never depends on input more than one analysis frame later, and the
    /// streaming denoiser hands it out as soon as that frame is in.
    func testCausalModelOutputWaitsOnlyForOneFrame() throws {
        let stft = STFTConfig(nFFT: 64, hop: 32)
        let config = MaskNetConfig(kind: .cnn, bins: stft.bins, hidden: 8, kernelSize: 3, dilations: [1, 2],
                                   residual: true, causal: true)
        let model = try DenoiseModel(config: config, stft: stft, sampleRate: 16000, seed: 5)
        let input = zip(TestSignals.speechLike(seconds: 0.3), TestSignals.whiteNoise(count: 4800)).map { $0 + $1 }
        var changed = input
        let cut = 3000
        for i in cut..<changed.count { changed[i] = -changed[i] }
        let a = Denoiser.enhance(AudioBuffer(mono: input, sampleRate: 16000), model: model).channels[0]
        let b = Denoiser.enhance(AudioBuffer(mono: changed, sampleRate: 16000), model: model).channels[0]
        XCTAssertEqual(Array(a[..<(cut - stft.nFFT)]), Array(b[..<(cut - stft.nFFT)]))
        XCTAssertNotEqual(Array(a[cut...]), Array(b[cut...]))

        let denoiser = Denoiser(model: model, channelCount: 1, sampleRate: 16000)
        var fed = 0, out = 0
        for size in [100, 37, 500, 1, 963] {
            out += denoiser.process(AudioBuffer(mono: Array(input[fed..<fed + size]), sampleRate: 16000)).frameCount
            fed += size
            XCTAssertGreaterThanOrEqual(out, fed - stft.nFFT, "after \(fed) samples in")
        }
        XCTAssertEqual(model.latencySeconds, 64.0 / 16000)
        XCTAssertEqual(model.formatVersion, "denoise-model-3")
        XCTAssertThrowsError(try MaskNetConfig(kind: .cnn, causal: true, norm: .group).validate())
        XCTAssertThrowsError(try MaskNetConfig(kind: .mlp, causal: true).validate())
    }

    func testWholeUtteranceNormsStillProcessInChunks() throws {
        let model = try TestSignals.tinyModel(.cnn, norm: .group)
        let input = AudioBuffer(mono: TestSignals.speechLike(seconds: 0.5), sampleRate: 16000)
        let whole = Denoiser.enhance(input, model: model)
        let pieces = chunked(input, model: model, options: DenoiserOptions(chunkFrames: 5), sizes: [700])
        XCTAssertEqual(pieces.frameCount, input.frameCount)
        let diff = zip(whole.channels[0], pieces.channels[0]).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThan(diff, 1e-5)
    }
}
