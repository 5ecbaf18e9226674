import DenoiseKit

/// Interim adapter: the fixed-latency, block-in-block-out contract that `Denoiser` is about to offer itself
/// (`process(_:into:)` writing exactly `input.count` samples, delayed by `latencySamples`), built on today's
/// `Denoiser.process(AudioBuffer) -> AudioBuffer`. When the engine's own entry point lands, delete this file and
/// make `PluginInstance` hold a `Denoiser`.
///
/// Output sample n is the denoiser's output for input sample n − `latencySamples` (zeros before that), blended
/// by `mix` with that input sample itself. The denoiser's own output lags its input by a varying amount
/// (it emits a hop at a time, once a frame and the network's look-ahead are complete); a FIFO absorbs the
/// variation, so the latency is the largest lag, measured once at construction.
///
/// Not real-time safe yet: `Denoiser.process` allocates its arrays on every call (the FIFOs do not). The
/// attenuation limit is fixed at construction, because `Denoiser` reads its options only there.
final class FixedLatencyDenoiser {
    let sampleRate: Int
    let attenuationLimitDB: Float?
    /// Output samples lag input samples by exactly this many.
    let latencySamples: Int
    /// Dry/wet, changeable between calls: 1 is fully denoised, 0 the input (delayed by `latencySamples`).
    var mix: Float

    private let denoiser: Denoiser
    /// Denoised samples not yet written out.
    private var wet: SampleFIFO
    /// Input samples not yet written out, for the dry part of `mix`.
    private var dry: SampleFIFO
    /// Zeros still to write before the first denoised sample.
    private var silenceLeft: Int
    /// Samples the FIFO lacked (0 unless `latencySamples` was measured too short); for tests.
    private(set) var underruns = 0

    /// Longest piece handed to the denoiser at once: bounds the FIFOs at `latencySamples` plus this.
    private static let maxPiece = 4096

    init(model: DenoiseModel, sampleRate: Int, options: DenoiserOptions = .init()) {
        var engineOptions = options
        engineOptions.mix = 1  // the adapter blends, so that `mix` can change while running
        self.sampleRate = sampleRate
        attenuationLimitDB = options.attenuationLimitDB
        mix = options.mix
        latencySamples = FixedLatencyDenoiser.measureLag(model: model, sampleRate: sampleRate, options: engineOptions)
        denoiser = Denoiser(model: model, channelCount: 1, sampleRate: sampleRate, options: engineOptions)
        wet = SampleFIFO(capacity: latencySamples + FixedLatencyDenoiser.maxPiece)
        dry = SampleFIFO(capacity: latencySamples + FixedLatencyDenoiser.maxPiece)
        silenceLeft = latencySamples
    }

    /// Denoises `input` and writes exactly `input.count` samples to `output`, which may be the same memory.
    func process(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>) {
        precondition(output.count >= input.count, "output has room for \(output.count) of \(input.count) samples")
        var start = 0
        while start < input.count {
            let end = min(start + FixedLatencyDenoiser.maxPiece, input.count)
            // Copied before any output is written: hosts often pass the same buffer for both.
            let piece = Array(input[start..<end])
            dry.push(piece)
            wet.push(denoiser.process(AudioBuffer(mono: piece, sampleRate: sampleRate)).channels[0])
            let wetShare = mix, dryShare = 1 - mix
            for i in start..<end {
                if silenceLeft > 0 {
                    silenceLeft -= 1
                    output[i] = 0
                } else if let denoised = wet.pop(), let original = dry.pop() {
                    output[i] = wetShare * denoised + dryShare * original
                } else {
                    underruns += 1
                    output[i] = 0
                }
            }
            start = end
        }
    }

    /// The denoiser's largest output lag, max over n of (n − output after n input samples), found by feeding a
    /// spare one silence a sample at a time. Twice the model's nominal latency covers the priming; after it the
    /// lag repeats with the STFT hop at the input's rate (shorter than that latency), or, when the input is
    /// resampled, once both the hop and the resamplers' phases come round again: every lcm(hop, R/g) samples at
    /// the model's rate R (g = gcd(r, R), r the input's rate), so one such period more is measured.
    private static func measureLag(model: DenoiseModel, sampleRate: Int, options: DenoiserOptions) -> Int {
        let probe = Denoiser(model: model, channelCount: 1, sampleRate: sampleRate, options: options)
        let nominal = Int((model.latencySeconds * Double(sampleRate)).rounded(.up))
        var resampledPeriod = 0
        if sampleRate < model.sampleRate {
            let phases = model.sampleRate / gcd(sampleRate, model.sampleRate)
            let modelSamples = model.stft.hop / gcd(model.stft.hop, phases) * phases
            resampledPeriod = modelSamples / phases * (sampleRate / gcd(sampleRate, model.sampleRate))
        }
        let span = 2 * nominal + resampledPeriod + 64
        let silence = AudioBuffer(mono: [0], sampleRate: sampleRate)
        var produced = 0, lag = 0
        for n in 1...span {
            produced += probe.process(silence).frameCount
            lag = max(lag, n - produced)
        }
        return lag
    }

    private static func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
}

/// A fixed-capacity ring of samples: pushes and pops allocate nothing.
private struct SampleFIFO {
    private var storage: [Float]
    private var head = 0
    private(set) var count = 0

    init(capacity: Int) { storage = [Float](repeating: 0, count: max(1, capacity)) }

    /// Appends `samples`; any beyond the capacity are dropped (the adapter's bound says there are none).
    mutating func push(_ samples: [Float]) {
        let capacity = storage.count, head = self.head
        var count = self.count
        storage.withUnsafeMutableBufferPointer { ring in
            for sample in samples where count < capacity {
                ring[(head + count) % capacity] = sample
                count += 1
            }
        }
        self.count = count
    }

    mutating func pop() -> Float? {
        guard count > 0 else { return nil }
        let sample = storage[head]
        head = (head + 1) % storage.count
        count -= 1
        return sample
    }
}
