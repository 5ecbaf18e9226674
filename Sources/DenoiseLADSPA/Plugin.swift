import CLADSPA
import DenoiseKit
import Foundation

// The LADSPA plugin `denoise_mono`: one audio input, one audio output, two control inputs and a `latency`
// control output that hosts (sox -l, PipeWire) use to compensate the delay. Hosts call these functions from C;
// nothing here may throw or trap on what a host passes.

/// Port numbers, in the order hosts list them (sox takes control values positionally in this order).
enum Port {
    static let input: UInt = 0
    static let output: UInt = 1
    static let attenuationLimit: UInt = 2
    static let mix: UInt = 3
    static let latency: UInt = 4
    static let count: UInt = 5
}

/// The attenuation limit port's range; its top means the model's own limit (`DenoiseModel.attenuationLimitDB`),
/// none for a model without one, as when `apply` is given no --atten-limit.
enum ControlRange {
    static let attenuationLimitTopDB: Float = 100
}

/// One plugin instance: the ports the host connected and the denoiser behind them.
///
/// `run` hands the host's buffers to `Denoiser.process(_:into:)`, the engine's fixed-latency entry point (or its
/// in-place form `process(_:)` when the host passes one buffer for both ports), which allocates nothing for
/// streaming models. The controls are read at every `run`.
final class PluginInstance {
    let model: DenoiseModel
    let sampleRate: Int
    private(set) var engine: Denoiser
    /// Whether `engine` has run since it was made (then `activate` starts a fresh one).
    private var engineUsed = false
    var input: UnsafeMutablePointer<Float>?
    var output: UnsafeMutablePointer<Float>?
    var attenuationLimit: UnsafeMutablePointer<Float>?
    var mix: UnsafeMutablePointer<Float>?
    var latency: UnsafeMutablePointer<Float>? {
        didSet { reportLatency() }
    }

    /// `model` streams (`PluginModel.load` refuses those that need the whole recording), so the engine has a
    /// fixed latency.
    init(model: DenoiseModel, sampleRate: Int) {
        self.model = model
        self.sampleRate = sampleRate
        // Made now so the latency is known before `activate`.
        engine = Denoiser(model: model, channelCount: 1, sampleRate: sampleRate)
    }

    /// Starts from silence: a fresh engine once the old one has run (made here, where hosts allow allocation).
    func activate() {
        if engineUsed {
            engine = Denoiser(model: model, channelCount: 1, sampleRate: sampleRate)
            engineUsed = false
        }
        applyControls()
        reportLatency()
    }

    func run(_ count: Int) {
        guard let input, let output else { return }
        engineUsed = true
        applyControls()
        // LADSPA lets a host pass one buffer as both ports: then the engine's in-place form, since a span to read
        // and a span to write may not share memory.
        var outputSpan = UnsafeMutableBufferPointer(start: output, count: count).mutableSpan
        if input == output {
            engine.process(&outputSpan)
        } else {
            engine.process(UnsafeBufferPointer(start: input, count: count).span, into: &outputSpan)
        }
    }

    /// The control ports' values, live: both take effect from the next block on.
    private func applyControls() {
        let options = PluginInstance.options(attenuationLimit?.pointee, mix?.pointee)
        engine.attenuationLimitDB = options.attenuationLimitDB
        engine.mix = options.mix
    }

    private func reportLatency() { latency?.pointee = Float(engine.latencySamples ?? 0) }

    /// Denoiser options for the port values (nil: the port's default; a limit of nil: the model's). Values outside
    /// the ports' ranges are clamped, and NaN is taken as the default: a host may send anything.
    static func options(_ attenuationLimit: Float?, _ mix: Float?) -> DenoiserOptions {
        var limit = attenuationLimit ?? ControlRange.attenuationLimitTopDB
        if limit.isNaN { limit = ControlRange.attenuationLimitTopDB }
        limit = min(max(limit, 0), ControlRange.attenuationLimitTopDB)
        return DenoiserOptions(attenuationLimitDB: limit >= ControlRange.attenuationLimitTopDB ? nil : limit,
                               mix: sanitizedMix(mix ?? 1))
    }

    static func sanitizedMix(_ mix: Float) -> Float { mix.isNaN ? 1 : min(max(mix, 0), 1) }
}

// MARK: - The descriptor, in memory that lives as long as the library

/// Built once, on the first `ladspa_descriptor` call, and never freed: hosts keep pointers into it.
/// `nonisolated(unsafe)` because a pointer is not Sendable: the memory is written only while the global is
/// initialised (once, under Swift's lazy-global lock) and only read after that, by any host thread.
nonisolated(unsafe) let pluginDescriptor: UnsafeMutablePointer<LADSPA_Descriptor> = makeDescriptor()

/// A C string that is never freed.
private func permanentCString(_ text: String) -> UnsafePointer<CChar>? { UnsafePointer(strdup(text)) }

private func makeDescriptor() -> UnsafeMutablePointer<LADSPA_Descriptor> {
    let ports: [(name: String, kind: Int32, hint: LADSPA_PortRangeHint)] = [
        ("Input", LADSPA_PORT_INPUT | LADSPA_PORT_AUDIO, LADSPA_PortRangeHint()),
        ("Output", LADSPA_PORT_OUTPUT | LADSPA_PORT_AUDIO, LADSPA_PortRangeHint()),
        ("Attenuation limit (dB)", LADSPA_PORT_INPUT | LADSPA_PORT_CONTROL,
         LADSPA_PortRangeHint(HintDescriptor: LADSPA_HINT_BOUNDED_BELOW | LADSPA_HINT_BOUNDED_ABOVE
                                  | LADSPA_HINT_DEFAULT_MAXIMUM,
                              LowerBound: 0, UpperBound: ControlRange.attenuationLimitTopDB)),
        ("Mix", LADSPA_PORT_INPUT | LADSPA_PORT_CONTROL,
         LADSPA_PortRangeHint(HintDescriptor: LADSPA_HINT_BOUNDED_BELOW | LADSPA_HINT_BOUNDED_ABOVE
                                  | LADSPA_HINT_DEFAULT_1,
                              LowerBound: 0, UpperBound: 1)),
        // A default, because sox asks every control port, outputs included, for a value or a default.
        ("latency", LADSPA_PORT_OUTPUT | LADSPA_PORT_CONTROL,
         LADSPA_PortRangeHint(HintDescriptor: LADSPA_HINT_BOUNDED_BELOW | LADSPA_HINT_INTEGER | LADSPA_HINT_DEFAULT_0,
                              LowerBound: 0, UpperBound: 0)),
    ]
    assert(ports.count == Int(Port.count))
    let kinds = UnsafeMutablePointer<LADSPA_PortDescriptor>.allocate(capacity: ports.count)
    let names = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: ports.count)
    let hints = UnsafeMutablePointer<LADSPA_PortRangeHint>.allocate(capacity: ports.count)
    for (i, port) in ports.enumerated() {
        (kinds + i).initialize(to: port.kind)
        (names + i).initialize(to: permanentCString(port.name))
        (hints + i).initialize(to: port.hint)
    }
    let descriptor = UnsafeMutablePointer<LADSPA_Descriptor>.allocate(capacity: 1)
    descriptor.initialize(to: LADSPA_Descriptor(
        // Not registered with ladspa.org; hosts here find the plugin by its label.
        UniqueID: 4_786_243,
        Label: permanentCString("denoise_mono"),
        // Not declared hard real-time capable: run allocates nothing (tested), but OpenBLAS is not audited for locks.
        Properties: 0,
        Name: permanentCString("denoise: speech denoiser (mono)"),
        Maker: permanentCString("The denoise authors"),
        Copyright: permanentCString("MIT"),
        PortCount: Port.count,
        PortDescriptors: UnsafePointer(kinds),
        PortNames: UnsafePointer(names),
        PortRangeHints: UnsafePointer(hints),
        ImplementationData: nil,
        instantiate: pluginInstantiate,
        connect_port: pluginConnectPort,
        activate: pluginActivate,
        run: pluginRun,
        run_adding: nil,
        set_run_adding_gain: nil,
        deactivate: nil,
        cleanup: pluginCleanup))
    return descriptor
}

// MARK: - C entry points

/// The symbol every LADSPA host looks up: plugin `index` of this library, or NULL past the last.
@_cdecl("ladspa_descriptor")
public func ladspaDescriptor(_ index: UInt) -> UnsafePointer<LADSPA_Descriptor>? {
    index == 0 ? UnsafePointer(pluginDescriptor) : nil
}

private func instance(_ handle: LADSPA_Handle?) -> PluginInstance? {
    handle.map { Unmanaged<PluginInstance>.fromOpaque($0).takeUnretainedValue() }
}

private func pluginInstantiate(_ descriptor: UnsafePointer<LADSPA_Descriptor>?, _ rate: UInt) -> LADSPA_Handle? {
    do {
        // Rates the resampler and STFT handle; 0 or a garbage value from a host is refused.
        guard rate >= 1000 && rate <= 768_000 else { throw PluginError.unsupportedRate(Int(clamping: rate)) }
        let plugin = PluginInstance(model: try PluginModel.load(), sampleRate: Int(rate))
        return Unmanaged.passRetained(plugin).toOpaque()
    } catch {
        FileHandle.standardError.write(Data("denoise-ladspa: \(error)\n".utf8))
        return nil
    }
}

private func pluginConnectPort(_ handle: LADSPA_Handle?, _ port: UInt, _ data: UnsafeMutablePointer<LADSPA_Data>?) {
    guard let plugin = instance(handle) else { return }
    switch port {
    case Port.input: plugin.input = data
    case Port.output: plugin.output = data
    case Port.attenuationLimit: plugin.attenuationLimit = data
    case Port.mix: plugin.mix = data
    case Port.latency: plugin.latency = data
    default: break
    }
}

private func pluginActivate(_ handle: LADSPA_Handle?) { instance(handle)?.activate() }

private func pluginRun(_ handle: LADSPA_Handle?, _ count: UInt) { instance(handle)?.run(Int(clamping: count)) }

private func pluginCleanup(_ handle: LADSPA_Handle?) {
    guard let handle else { return }
    Unmanaged<PluginInstance>.fromOpaque(handle).release()
}
