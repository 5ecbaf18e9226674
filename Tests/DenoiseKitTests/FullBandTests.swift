import XCTest
@testable import DenoiseKit

/// Inputs above the model's rate: the model's band is masked, the band above it gets one gain per frame, and the
/// two sum back to the input when nothing is removed.
final class FullBandTests: XCTestCase {
    /// A tiny model whose mask is `sigmoid(bias)` in every bin, whatever the input.
    private func constantMaskModel(bias: Float) throws -> DenoiseModel {
        let model = try TestSignals.tinyModel(.mlp)
        let weight = try XCTUnwrap(model.net.store.entry(named: "output.linear.weight"))
        let biases = try XCTUnwrap(model.net.store.entry(named: "output.linear.bias"))
        for i in 0..<weight.count { model.net.store.values[weight.offset + i] = 0 }
        for i in 0..<biases.count { model.net.store.values[biases.offset + i] = bias }
        model.net.store.markValuesChanged()
        return model
    }

    /// Speech-like tones plus white noise, which reaches the top of the band at any rate.
    private func wideband(seconds: Double, sampleRate: Int, seed: UInt64 = 4) -> [Float] {
        let speech = TestSignals.speechLike(seconds: seconds, sampleRate: sampleRate, seed: seed)
        let noise = TestSignals.whiteNoise(count: speech.count, level: 0.05, seed: seed + 1)
        return zip(speech, noise).map { $0 + $1 }
    }

    /// Energy between `low` and `high` Hz, from the STFT of a 48 kHz or other signal (edges excluded).
    private func bandEnergy(_ x: [Float], sampleRate: Int, _ low: Double, _ high: Double) -> Double {
        let stft = STFT(config: STFTConfig(nFFT: 2048, hop: 512))
        let spec = stft.analyze(x)
        let binHz = Double(sampleRate) / 2048
        let bins = Int((low / binHz).rounded(.up))..<Int((high / binHz).rounded(.up))
        var energy = 0.0
        for t in 0..<spec.frames {
            for k in bins {
                let i = t * spec.bins + k
                energy += Double(spec.real[i] * spec.real[i] + spec.imag[i] * spec.imag[i])
            }
        }
        return energy
    }

    private func decibels(_ ratio: Double) -> Double { 10 * log10(ratio) }

    func testUnityMaskReturnsTheInputAt22_44_48kHz() throws {
        let model = try constantMaskModel(bias: 40)  // sigmoid(40) is 1 in Float
        for rate in [22050, 44100, 48000] {
            let input = AudioBuffer(channels: [wideband(seconds: 0.4, sampleRate: rate),
                                               wideband(seconds: 0.4, sampleRate: rate, seed: 9)], sampleRate: rate)
            let output = Denoiser.enhance(input, model: model)
            XCTAssertEqual(output.frameCount, input.frameCount, "\(rate) Hz")
            for ch in 0..<2 {
                let error = zip(input.channels[ch], output.channels[ch]).map { abs($0 - $1) }.max() ?? 1
                XCTAssertLessThan(error, 1e-5, "\(rate) Hz channel \(ch)")
            }
        }
    }

    func testChunkedEqualsWholeAtEveryRate() throws {
        let cnn = try TestSignals.tinyModel(.cnn, residual: true), mlp = try TestSignals.tinyModel(.mlp)
        for (rate, model) in [(48000, cnn), (44100, mlp), (22050, cnn), (16000, mlp), (8000, cnn)] {
            let input = AudioBuffer(mono: wideband(seconds: 0.5, sampleRate: rate), sampleRate: rate)
            let options = DenoiserOptions(attenuationLimitDB: 30, mix: 0.9)
            let whole = Denoiser.enhance(input, model: model, options: options)
            var chunkedOptions = options
            chunkedOptions.chunkFrames = 3
            let denoiser = Denoiser(model: model, channelCount: 1, sampleRate: rate, options: chunkedOptions)
            let sizes = [1, 777, 4096, 13, 2000]
            var out: [Float] = [], position = 0, i = 0
            while position < input.frameCount {
                let n = min(sizes[i % sizes.count], input.frameCount - position)
                out += denoiser.process(AudioBuffer(mono: Array(input.channels[0][position..<position + n]),
                                                    sampleRate: rate)).channels[0]
                position += n
                i += 1
            }
            out += denoiser.finish().channels[0]
            XCTAssertEqual(out.count, input.frameCount)
            let diff = zip(whole.channels[0], out).map { abs($0 - $1) }.max() ?? 1
            XCTAssertLessThan(diff, 1e-6, "\(rate) Hz")
        }
    }

    func testMixZeroReturnsTheInputSampleForSampleAt48kHz() throws {
        let model = try TestSignals.tinyModel(.cnn)
        let input = AudioBuffer(channels: [wideband(seconds: 0.3, sampleRate: 48000),
                                           wideband(seconds: 0.3, sampleRate: 48000, seed: 7)], sampleRate: 48000)
        let output = Denoiser.enhance(input, model: model, options: DenoiserOptions(attenuationLimitDB: 10, mix: 0))
        XCTAssertEqual(output.channels, input.channels)
    }

    /// At the model's own rate the dry signal is blended after resynthesis; it matches blending inside the mask
    /// (the earlier route) to the STFT's round-trip precision.
    func testMixBlendsWithTheInputAtTheModelsRate() throws {
        let model = try TestSignals.tinyModel(.cnn)
        let input = AudioBuffer(mono: wideband(seconds: 0.4, sampleRate: 16000), sampleRate: 16000)
        let wet = Denoiser.enhance(input, model: model).channels[0]
        let half = Denoiser.enhance(input, model: model, options: DenoiserOptions(mix: 0.5)).channels[0]
        for i in input.channels[0].indices {
            XCTAssertEqual(half[i], 0.5 * wet[i] + 0.5 * input.channels[0][i], accuracy: 1e-6)
        }
    }

    /// A constant mask of 1/2 takes a 12 kHz tone down by 6 dB, and an attenuation limit holds above the band too.
    func testHighBandTakesTheMasksGainInTheReferenceBand() throws {
        let model = try constantMaskModel(bias: 0)
        let tone = (0..<24000).map { Float(0.3 * sin(2 * Double.pi * 12000 * Double($0) / 48000)) }
        let input = AudioBuffer(mono: zip(tone, wideband(seconds: 0.5, sampleRate: 48000)).map { $0 + $1 },
                                sampleRate: 48000)
        func change(_ options: DenoiserOptions) -> Double {
            let output = Denoiser.enhance(input, model: model, options: options).channels[0]
            return decibels(bandEnergy(output, sampleRate: 48000, 11000, 13000)
                            / bandEnergy(input.channels[0], sampleRate: 48000, 11000, 13000))
        }
        XCTAssertEqual(change(DenoiserOptions()), -6.02, accuracy: 0.05)
        let limited = try constantMaskModel(bias: -40)
        let output = Denoiser.enhance(input, model: limited,
                                      options: DenoiserOptions(attenuationLimitDB: 12)).channels[0]
        XCTAssertEqual(decibels(bandEnergy(output, sampleRate: 48000, 11000, 13000)
                                / bandEnergy(input.channels[0], sampleRate: 48000, 11000, 13000)), -12, accuracy: 0.05)
    }

    func testBandPlanPutsTheModelsBinsOnTheInputsGrid() throws {
        let model = try DenoiseModel(config: MaskNetConfig(kind: .mlp, hidden: 8, hiddenLayers: 1),
                                     initializeWeights: false)
        let at48 = BandPlan(model: model, inputRate: 48000)
        XCTAssertEqual(at48.stft, STFTConfig(nFFT: 1536, hop: 768))
        XCTAssertFalse(at48.resampled)
        XCTAssertTrue(at48.hasHighBand)
        XCTAssertEqual(at48.referenceBins, 128..<231)  // 4 kHz up to the 7.2 kHz crossover, 31.25 Hz a bin
        XCTAssertEqual(at48.crossoverStart, 231)
        XCTAssertEqual(at48.crossoverWeights.last, 1)
        XCTAssertEqual(at48.featureScale, 1.0 / 3)  // frames of 3 times as many samples
        XCTAssertEqual(BandPlan(model: model, inputRate: 44100).stft, STFTConfig(nFFT: 1408, hop: 704))
        // 705.6 rounds to 706 = 2 · 353, which FFTW transforms with scratch memory; 704 = 2⁶ · 11 it does not.
        XCTAssertEqual(BandPlan(model: model, inputRate: 22050).stft, STFTConfig(nFFT: 704, hop: 352))
        XCTAssertEqual(BandPlan.smoothNear(705.6), 704)
        XCTAssertEqual(BandPlan.smoothNear(768), 768)
        XCTAssertEqual(BandPlan.smoothNear(1411.2), 1408)
        let native = BandPlan(model: model, inputRate: 16000)
        XCTAssertEqual(native.stft, model.stft)
        XCTAssertNil(native.featureScale)
        XCTAssertFalse(native.hasHighBand)
        XCTAssertTrue(BandPlan(model: model, inputRate: 8000).resampled)
    }

    func testModelFileKeepsItsHighBandSettings() throws {
        let model = try TestSignals.tinyModel(.mlp)
        model.highBand = HighBandSettings(referenceLowHz: 3000, crossoverFraction: 0.8)
        let file = model.safeTensors()
        XCTAssertEqual(file.metadata["band_hz"], "0-8000")
        let loaded = try DenoiseModel(safeTensors: file, path: "m.safetensors")
        XCTAssertEqual(loaded.highBand, model.highBand)
        var broken = file
        broken.metadata["high_band"] = #"{"referenceLowHz":9000,"crossoverFraction":0.9}"#
        XCTAssertThrowsError(try DenoiseModel(safeTensors: broken, path: "m.safetensors")) { error in
            XCTAssertTrue("\(error)".contains("high_band"), "\(error)")
        }
    }

    // MARK: - With the bundled model

    private func bundledModel() throws -> DenoiseModel {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let url = root.appendingPathComponent("samples/denoise-default.safetensors")
        guard FileManager.default.fileExists(atPath: url.path) else { throw XCTSkip("no bundled model at \(url.path)") }
        return try DenoiseModel.load(url: url)
    }

    /// Noise alone, below 7 kHz and in a band around 12 kHz: the model hears no speech, and the 12 kHz band goes
    /// down with the rest.
    func testHighNoiseBandComesDownWhenTheLowBandIsPureNoise() throws {
        let model = try bundledModel()
        let rate = 48000, n = 2 * rate
        var rng = RandomGenerator(seed: 11)
        let white = (0..<n).map { _ in 0.05 * rng.normal() }
        // A 12 kHz band: white noise through a resonator; the low band: white noise through a one-pole low-pass.
        let resonator = Biquad.bandPass(centre: 12000, q: 4, sampleRate: rate)
        var band = (0..<n).map { _ in 0.2 * rng.normal() }
        resonator.apply(&band, passes: 2)
        let lowPass = Biquad.lowPass(cutoff: 6000, q: 0.7, sampleRate: rate)
        var low = white
        lowPass.apply(&low, passes: 2)
        let input = zip(low, band).map { $0 + $1 }
        let output = Denoiser.enhance(AudioBuffer(mono: input, sampleRate: rate), model: model).channels[0]
        let change = decibels(bandEnergy(output, sampleRate: rate, 11000, 13000)
                              / bandEnergy(input, sampleRate: rate, 11000, 13000))
        XCTAssertLessThan(change, -10)
    }

    /// Clean 48 kHz speech keeps its 8–20 kHz band: sibilants and air are not noise.
    func testCleanWidebandSpeechKeepsItsHighBandWithin1dB() throws {
        let model = try bundledModel()
        guard let data = TestSignals.sharedData else { throw XCTSkip("../shared/data is absent") }
        let url = data.appendingPathComponent("fullband/clean/vctk_p228_023.wav")
        guard FileManager.default.fileExists(atPath: url.path) else { throw XCTSkip("no \(url.path)") }
        let (speech, rate) = try WAVFiles.readMono(url)
        XCTAssertEqual(rate, 48000)
        let input = Array(speech.prefix(4 * rate))
        let output = Denoiser.enhance(AudioBuffer(mono: input, sampleRate: rate), model: model).channels[0]
        let change = decibels(bandEnergy(output, sampleRate: rate, 8000, 20000)
                              / bandEnergy(input, sampleRate: rate, 8000, 20000))
        XCTAssertLessThan(abs(change), 1, "8–20 kHz level changed by \(change) dB")
    }
}
