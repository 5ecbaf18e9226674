import CLADSPA
@testable import DenoiseKit
@testable import DenoiseLADSPA
import Foundation
import XCTest

/// The plugin through its C entry points, in process: ports, latency, and equality with `Denoiser.enhance`
/// delayed by the reported latency, whatever the block sizes.
final class PluginTests: XCTestCase {
    func testDescriptorHasTheMonoPluginWithControlsAndALatencyOutput() throws {
        let descriptor = try XCTUnwrap(ladspaDescriptor(0)).pointee
        XCTAssertNil(ladspaDescriptor(1), "one plugin only")
        XCTAssertEqual(String(cString: descriptor.Label), "denoise_mono")
        XCTAssertEqual(descriptor.PortCount, 5)
        func name(_ port: UInt) -> String { String(cString: descriptor.PortNames[Int(port)]!) }
        func kind(_ port: UInt) -> Int32 { descriptor.PortDescriptors[Int(port)] }
        XCTAssertEqual(kind(Port.input), LADSPA_PORT_INPUT | LADSPA_PORT_AUDIO)
        XCTAssertEqual(kind(Port.output), LADSPA_PORT_OUTPUT | LADSPA_PORT_AUDIO)
        XCTAssertEqual(kind(Port.attenuationLimit), LADSPA_PORT_INPUT | LADSPA_PORT_CONTROL)
        XCTAssertEqual(kind(Port.mix), LADSPA_PORT_INPUT | LADSPA_PORT_CONTROL)
        XCTAssertEqual(kind(Port.latency), LADSPA_PORT_OUTPUT | LADSPA_PORT_CONTROL)
        XCTAssertEqual(name(Port.latency), "latency", "hosts and sox -l look for this exact name")
        // PipeWire's filter-chain and the README's examples set controls by these names.
        XCTAssertEqual(name(Port.attenuationLimit), "Attenuation limit (dB)")
        XCTAssertEqual(name(Port.mix), "Mix")
        let limit = descriptor.PortRangeHints[Int(Port.attenuationLimit)]
        XCTAssertEqual(limit.HintDescriptor & LADSPA_HINT_DEFAULT_MASK, LADSPA_HINT_DEFAULT_MAXIMUM)
        XCTAssertEqual(limit.LowerBound, 0)
        XCTAssertEqual(limit.UpperBound, 100)
        let mix = descriptor.PortRangeHints[Int(Port.mix)]
        XCTAssertEqual(mix.HintDescriptor & LADSPA_HINT_DEFAULT_MASK, LADSPA_HINT_DEFAULT_1)
        XCTAssertEqual(mix.UpperBound, 1)
        XCTAssertNotEqual(descriptor.PortRangeHints[Int(Port.latency)].HintDescriptor & LADSPA_HINT_DEFAULT_MASK, 0,
                          "sox refuses control ports without a value or a default, outputs included")
        XCTAssertEqual(ladspaDescriptor(0), ladspaDescriptor(0), "the descriptor is built once and kept")
    }

    /// One analysis frame less a sample (the denoiser emits a hop once the frame that ends it is complete):
    /// 512 − 1 at 16 kHz, and at higher rates frames of about the same duration, 1536 − 1 at 48 kHz and 1408 − 1
    /// at 44.1 kHz (hop 704). The real-time model looks no frame ahead.
    func testLatencyIsOneFrameLessASampleAtTheHostRate() throws {
        for (rate, expected) in [(16000, 511), (48000, 1535), (44100, 1407)] {
            let plugin = try HostedPlugin(sampleRate: UInt(rate))
            XCTAssertEqual(plugin.latency, Float(expected), "\(rate) Hz")
        }
    }

    func testOutputIsDenoiserOutputDelayedByTheLatencyForAnyBlockSizes() throws {
        let model = try DenoiseModel.load(url: PluginFixtures.realtimeModelURL)
        for (rate, seed) in [(16000, UInt64(1)), (48000, 2), (8000, 3), (11025, 4)] {
            let input = PluginFixtures.noisySpeech(seconds: 1.2, sampleRate: rate)
            let expected = Denoiser.enhance(AudioBuffer(mono: input, sampleRate: rate), model: model).channels[0]
            // Random sizes, and single samples, which meet the denoiser at every phase of its hop: a latency one
            // sample short runs the FIFO dry there.
            for (blocks, length) in [(PluginFixtures.blockSizes(seed: seed), input.count), ([1], rate / 4)] {
                let plugin = try HostedPlugin(sampleRate: UInt(rate))
                let latency = Int(plugin.latency)
                XCTAssertGreaterThan(latency, 0)
                let output = plugin.run(Array(input[..<length]), blocks: blocks, inPlace: seed == 2)
                XCTAssertEqual(output.count, length)
                XCTAssertEqual(plugin.engine.latencySamples, latency,
                               "\(rate) Hz: the port reports the engine's latency")
                XCTAssertTrue(output[..<latency].allSatisfy { $0 == 0 }, "\(rate) Hz: silence until primed")
                let delayed = Array(expected[..<(length - latency)])
                let worst = zip(output[latency...], delayed).map { abs($0 - $1) }.max() ?? .infinity
                XCTAssertLessThan(worst, 1e-4, "\(rate) Hz, blocks \(blocks.prefix(3))")
                XCTAssertGreaterThan(SignalMetrics.siSDR(reference: delayed, estimate: Array(output[latency...])), 60)
            }
        }
    }

    func testOneSampleBlocksGiveTheSameOutputAsLargeOnes() throws {
        let input = PluginFixtures.noisySpeech(seconds: 0.5, sampleRate: 16000)
        let single = try HostedPlugin(sampleRate: 16000).run(input, blocks: [1])
        let large = try HostedPlugin(sampleRate: 16000).run(input, blocks: [20_000])
        XCTAssertLessThan(zip(single, large).map { abs($0 - $1) }.max() ?? .infinity, 1e-5)
    }

    /// Mix 0 gives the input back exactly, delayed; a change of mix takes effect at the next block.
    func testMixChangesWhileRunningAndZeroIsTheDelayedInput() throws {
        let input = PluginFixtures.noisySpeech(seconds: 0.5, sampleRate: 16000)
        let plugin = try HostedPlugin(sampleRate: 16000, mix: 0)
        let latency = Int(plugin.latency)
        let half = input.count / 2
        let dry = plugin.run(Array(input[..<half]), blocks: [300])
        XCTAssertEqual(Array(dry[latency...]), Array(input[..<(half - latency)]))
        plugin.mix = 1
        let wet = plugin.run(Array(input[half...]), blocks: [300])
        let model = try DenoiseModel.load(url: PluginFixtures.realtimeModelURL)
        let expected = Denoiser.enhance(AudioBuffer(mono: input, sampleRate: 16000), model: model).channels[0]
        let worst = zip(wet, expected[(half - latency)...]).map { abs($0 - $1) }.max() ?? .infinity
        XCTAssertLessThan(worst, 1e-4)
    }

    func testAttenuationLimitReadAtActivateMatchesTheEngineOption() throws {
        let model = try DenoiseModel.load(url: PluginFixtures.realtimeModelURL)
        let input = PluginFixtures.noisySpeech(seconds: 0.6, sampleRate: 16000)
        let options = DenoiserOptions(attenuationLimitDB: 6)
        let expected = Denoiser.enhance(AudioBuffer(mono: input, sampleRate: 16000), model: model, options: options)
        let unlimited = Denoiser.enhance(AudioBuffer(mono: input, sampleRate: 16000), model: model).channels[0]
        let plugin = try HostedPlugin(sampleRate: 16000, attenuationLimitDB: 6)
        let latency = Int(plugin.latency)
        let output = Array(plugin.run(input, blocks: [512])[latency...])
        let reference = Array(expected.channels[0][..<(input.count - latency)])
        XCTAssertLessThan(zip(output, reference).map { abs($0 - $1) }.max() ?? .infinity, 1e-4)
        XCTAssertGreaterThan(zip(output, unlimited).map { abs($0 - $1) }.max() ?? 0, 1e-3, "the limit did something")
    }

    func testOutOfRangeControlsAreClampedNotTrusted() {
        XCTAssertNil(PluginInstance.options(100, 1).attenuationLimitDB, "the top of the range means the model's")
        XCTAssertNil(PluginInstance.options(.nan, .nan).attenuationLimitDB)
        XCTAssertEqual(PluginInstance.options(.nan, .nan).mix, 1)
        XCTAssertEqual(PluginInstance.options(-5, 3).attenuationLimitDB, 0)
        XCTAssertEqual(PluginInstance.options(-5, 3).mix, 1)
        XCTAssertEqual(PluginInstance.options(12, -1).attenuationLimitDB, 12)
        XCTAssertEqual(PluginInstance.options(12, -1).mix, 0)
    }

    /// The port at its top (or NaN) gives the model's own limit, as `apply` without --atten-limit does; any other
    /// value overrides it.
    func testTheTopOfTheLimitPortIsTheModelsOwnLimit() throws {
        let model = try DenoiseModel.load(url: PluginFixtures.realtimeModelURL)
        model.attenuationLimitDB = 25
        let instance = PluginInstance(model: model, sampleRate: 16000)
        let port = UnsafeMutablePointer<Float>.allocate(capacity: 1)
        defer { port.deallocate() }
        instance.attenuationLimit = port
        for (value, expected) in [(100, 25), (12, 12), (.nan, 25), (0, 0)] as [(Float, Float)] {
            port.pointee = value
            instance.activate()
            XCTAssertEqual(instance.engine.attenuationLimitDB, expected, "port \(value)")
        }
        model.attenuationLimitDB = nil
        port.pointee = 100
        instance.activate()
        XCTAssertNil(instance.engine.attenuationLimitDB, "a model without a limit: none")
    }

    func testInstantiateRefusesARateOfZero() throws {
        let descriptor = try XCTUnwrap(ladspaDescriptor(0))
        XCTAssertNil(descriptor.pointee.instantiate(descriptor, 0))
    }

    func testModelComesFromTheEnvironmentFirstAndMissingOnesAreNamed() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ladspa-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("tiny.safetensors")
        let config = MaskNetConfig(kind: .mlp, bins: 33, context: 1, hidden: 8, hiddenLayers: 1)
        try DenoiseModel(config: config, stft: STFTConfig(nFFT: 64, hop: 32), sampleRate: 16000).save(to: url)
        XCTAssertEqual(try PluginModel.locate(environment: ["DENOISE_LADSPA_MODEL": url.path]).path, url.path)
        XCTAssertEqual(try PluginModel.load(environment: ["DENOISE_LADSPA_MODEL": url.path]).net.config.hidden, 8)
        // Without the variable: the bundled real-time model (no library file to look beside in a test).
        XCTAssertEqual(try PluginModel.locate(environment: [:]).standardizedFileURL.path,
                       PluginFixtures.realtimeModelURL.standardizedFileURL.path)
        let missing = folder.appendingPathComponent("missing.safetensors").path
        XCTAssertThrowsError(try PluginModel.load(environment: ["DENOISE_LADSPA_MODEL": missing])) {
            XCTAssertEqual(String(describing: $0), "\(missing): no such model file (named by $DENOISE_LADSPA_MODEL)")
        }
        let garbage = folder.appendingPathComponent("garbage.safetensors")
        try Data("not a model".utf8).write(to: garbage)
        XCTAssertThrowsError(try PluginModel.load(environment: ["DENOISE_LADSPA_MODEL": garbage.path])) {
            XCTAssertTrue(String(describing: $0).hasPrefix(garbage.path + ": "), String(describing: $0))
        }
    }

    func testWholeUtteranceModelsAreRefusedBecauseTheyNeverStream() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ladspa-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("group.safetensors")
        let config = MaskNetConfig(kind: .cnn, bins: 33, context: 1, hidden: 8, hiddenLayers: 1, kernelSize: 3,
                                   dilations: [1], norm: .group, groups: 2)
        try DenoiseModel(config: config, stft: STFTConfig(nFFT: 64, hop: 32), sampleRate: 16000).save(to: url)
        XCTAssertThrowsError(try PluginModel.load(environment: ["DENOISE_LADSPA_MODEL": url.path])) {
            XCTAssertTrue(String(describing: $0).contains("group normalisation needs the whole recording"),
                          String(describing: $0))
        }
    }
}
