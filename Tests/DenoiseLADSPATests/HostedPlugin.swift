import CLADSPA
@testable import DenoiseKit
@testable import DenoiseLADSPA
import Foundation
import XCTest

/// A minimal LADSPA host: drives the plugin only through its descriptor's C function pointers, as sox or
/// PipeWire do, with the control values in memory it owns.
final class HostedPlugin {
    let descriptor: UnsafePointer<LADSPA_Descriptor>
    let handle: LADSPA_Handle
    /// One value per port; the control ports are connected to these.
    let controls = UnsafeMutablePointer<Float>.allocate(capacity: Int(Port.count))

    init(sampleRate: UInt, attenuationLimitDB: Float = 100, mix: Float = 1) throws {
        guard let descriptor = ladspaDescriptor(0) else { throw HostError("no descriptor 0") }
        self.descriptor = descriptor
        guard let instantiate = descriptor.pointee.instantiate, let handle = instantiate(descriptor, sampleRate) else {
            throw HostError("instantiate at \(sampleRate) Hz returned NULL")
        }
        self.handle = handle
        controls.initialize(repeating: -1, count: Int(Port.count))
        controls[Int(Port.attenuationLimit)] = attenuationLimitDB
        controls[Int(Port.mix)] = mix
        for port in [Port.attenuationLimit, Port.mix, Port.latency] {
            descriptor.pointee.connect_port(handle, port, controls + Int(port))
        }
        descriptor.pointee.activate(handle)
    }

    deinit {
        descriptor.pointee.cleanup(handle)
        controls.deallocate()
    }

    var latency: Float { controls[Int(Port.latency)] }
    var mix: Float {
        get { controls[Int(Port.mix)] }
        set { controls[Int(Port.mix)] = newValue }
    }

    /// The engine behind the handle, for what only the tests look at.
    var engine: Denoiser { Unmanaged<PluginInstance>.fromOpaque(handle).takeUnretainedValue().engine }

    /// Runs the plugin over `input` in blocks of the given sizes (cycled), in place when `inPlace`, as sox does.
    func run(_ input: [Float], blocks: [Int], inPlace: Bool = false) -> [Float] {
        var output = [Float](repeating: .nan, count: input.count)
        var source = input
        var start = 0, i = 0
        while start < input.count {
            let count = min(blocks[i % blocks.count], input.count - start)
            source.withUnsafeMutableBufferPointer { inBuffer in
                output.withUnsafeMutableBufferPointer { outBuffer in
                    guard let inBase = inBuffer.baseAddress, let outBase = outBuffer.baseAddress else { return }
                    let inPointer = inBase + start
                    let outPointer = inPlace ? inPointer : outBase + start
                    descriptor.pointee.connect_port(handle, Port.input, inPointer)
                    descriptor.pointee.connect_port(handle, Port.output, outPointer)
                    descriptor.pointee.run(handle, UInt(count))
                    if inPlace { (outBase + start).update(from: inPointer, count: count) }
                }
            }
            start += count
            i += 1
        }
        return output
    }
}

struct HostError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

enum PluginFixtures {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let realtimeModelURL = packageRoot.appendingPathComponent("samples/denoise-realtime.safetensors")

    /// Speech-like harmonics with a syllable envelope in white noise, peak below 0.5 (deterministic).
    static func noisySpeech(seconds: Double, sampleRate: Int, seed: UInt64 = 1) -> [Float] {
        var state = seed
        return (0..<Int(seconds * Double(sampleRate))).map { i in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let noise = Float(Int64(bitPattern: state) >> 11) / Float(1 << 52)
            let t = Float(i) / Float(sampleRate)
            var voiced: Float = 0
            for h in 1...6 { voiced += sin(2 * Float.pi * 150 * Float(h) * t) / Float(h) }
            return 0.2 * max(0, sin(2 * Float.pi * 3 * t)) * voiced + 0.05 * noise
        }
    }

    /// Random block sizes from 1 sample to many thousands, the same every run.
    static func blockSizes(seed: UInt64) -> [Int] {
        let choices = [1, 1, 2, 3, 17, 64, 128, 255, 256, 257, 480, 1000, 1024, 4096, 5000, 12_000]
        var state = seed
        return (0..<40).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return choices[Int(state >> 33) % choices.count]
        }
    }
}
