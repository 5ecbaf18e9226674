import Foundation

/// How strongly the denoiser acts.
public struct DenoiserOptions: Equatable, Sendable {
    /// The mask never attenuates a bin by more than this many dB (nil: no limit).
    public var attenuationLimitDB: Float?
    /// Dry/wet: 1 is fully denoised, 0 is the input unchanged.
    public var mix: Float
    /// The power the mask is raised to before the attenuation limit (nil: the model's own, see
    /// `DenoiseModel.maskExponent`).
    public var maskExponent: Float?
    /// Estimate one mask per channel instead of one shared mask (which keeps the stereo image).
    public var perChannel: Bool
    /// Frames of output computed per network call; larger is faster, smaller uses less memory.
    public var chunkFrames: Int

    public init(attenuationLimitDB: Float? = nil, mix: Float = 1, maskExponent: Float? = nil, perChannel: Bool = false,
                chunkFrames: Int = 1024) {
        self.attenuationLimitDB = attenuationLimitDB
        self.mix = mix
        self.maskExponent = maskExponent
        self.perChannel = perChannel
        self.chunkFrames = chunkFrames
    }

    /// The smallest mask value allowed, as a linear gain.
    var maskFloor: Float { attenuationLimitDB.map { Float(pow(10, Double(-$0) / 20)) } ?? 0 }
}

/// The one denoising engine: feed it audio in chunks of any size, get enhanced audio back.
///
/// State carried between calls: resampler history, STFT overlap, and the last `receptiveRadius`
/// frames of spectrum (the network's left context). The network runs on windows of
/// `chunkFrames` frames plus `receptiveRadius` frames of margin on each side, whose outputs are
/// discarded, so every kept frame sees exactly the inputs it would see in a whole-file pass and
/// memory stays bounded whatever the file length. Models whose normalisation needs the whole
/// utterance (GroupNorm, InstanceNorm) are run once at `finish()` instead.
///
/// Output is sample-aligned with the input; over all `process` calls plus `finish` it has exactly
/// as many frames as went in (it lags by the STFT and network look-ahead while streaming).
public final class Denoiser {
    public let model: DenoiseModel
    public let channelCount: Int
    public let sampleRate: Int
    public let options: DenoiserOptions

    private let stft: STFTConfig
    private let radius: Int
    private let chunk: Int
    private let maskExponent: Float
    private var inputResamplers: [Resampler]
    private var outputResamplers: [Resampler]
    private var analyzers: [STFTAnalyzer]
    private var synthesizers: [STFTSynthesizer]
    /// Per channel: spectrum frames from absolute frame `pendingStart` on.
    private var pending: [Spectrogram]
    private var pendingStart = 0
    /// Absolute index of the first frame whose mask is not yet applied.
    private var nextFrame = 0
    private var modelSamplesIn = 0
    private var framesIn = 0
    private var framesOut = 0
    private var finished = false
    // Reused per window.
    private let features = Matrix(rows: 0, cols: 0)
    private var frameScratch: [Float]
    private var maskedReal: [Float]
    private var maskedImag: [Float]
    private var synthesized: [[Float]]

    public init(model: DenoiseModel, channelCount: Int, sampleRate: Int, options: DenoiserOptions = .init()) {
        precondition(channelCount >= 1, "a Denoiser needs at least one channel")
        precondition(options.chunkFrames >= 1, "chunkFrames must be positive")
        precondition(options.maskExponent.map(DenoiseModel.maskExponents.contains) ?? true,
                     "the mask exponent must be \(DenoiseModel.maskExponentsDescription)")
        self.model = model
        self.channelCount = channelCount
        self.sampleRate = sampleRate
        self.options = options
        self.stft = model.stft
        self.radius = model.net.config.receptiveRadius
        self.chunk = model.net.config.norm.isFrameLocal ? options.chunkFrames : Int.max / 4
        self.maskExponent = options.maskExponent ?? model.maskExponent
        let resample = sampleRate != model.sampleRate
        inputResamplers = resample ? (0..<channelCount).map { _ in Resampler(from: sampleRate, to: model.sampleRate) } : []
        outputResamplers = resample ? (0..<channelCount).map { _ in Resampler(from: model.sampleRate, to: sampleRate) } : []
        analyzers = (0..<channelCount).map { _ in STFTAnalyzer(config: model.stft) }
        synthesizers = (0..<channelCount).map { _ in STFTSynthesizer(config: model.stft) }
        pending = (0..<channelCount).map { _ in Spectrogram(frames: 0, bins: model.stft.bins) }
        frameScratch = [Float](repeating: 0, count: model.stft.bins)
        maskedReal = frameScratch
        maskedImag = frameScratch
        synthesized = Array(repeating: [], count: channelCount)
    }

    /// Denoises the next chunk of input; returns the output that is ready (possibly none yet).
    public func process(_ input: AudioBuffer) -> AudioBuffer {
        precondition(!finished, "Denoiser.process called after finish()")
        precondition(input.channelCount == channelCount, "expected \(channelCount) channels, got \(input.channelCount)")
        framesIn += input.frameCount
        for ch in 0..<channelCount {
            let samples = inputResamplers.isEmpty ? input.channels[ch] : inputResamplers[ch].process(input.channels[ch])
            if ch == 0 { modelSamplesIn += samples.count }
            // Room for every frame these samples complete, so the spectrum grows by one allocation, not by doubling.
            pending[ch].reserveFrames(pending[ch].frames + samples.count / stft.hop + 1)
            samples.withUnsafeBufferPointer { analyzers[ch].push($0, into: &pending[ch]) }
        }
        runReadyWindows(final: false)
        return collectOutput(final: false)
    }

    /// Flushes everything still inside the denoiser; the output then totals the input's length.
    public func finish() -> AudioBuffer {
        precondition(!finished, "Denoiser.finish called twice")
        finished = true
        for ch in 0..<channelCount {
            if !inputResamplers.isEmpty {
                let tail = inputResamplers[ch].finish()
                if ch == 0 { modelSamplesIn += tail.count }
                tail.withUnsafeBufferPointer { analyzers[ch].push($0, into: &pending[ch]) }
            }
            analyzers[ch].finish(into: &pending[ch])
        }
        runReadyWindows(final: true)
        return collectOutput(final: true)
    }

    /// Whole-buffer convenience: the same engine, one call.
    public static func enhance(_ input: AudioBuffer, model: DenoiseModel, options: DenoiserOptions = .init()) -> AudioBuffer {
        let denoiser = Denoiser(model: model, channelCount: input.channelCount, sampleRate: input.sampleRate, options: options)
        let head = denoiser.process(input)
        let tail = denoiser.finish()
        return AudioBuffer(channels: zip(head.channels, tail.channels).map { $0 + $1 }, sampleRate: input.sampleRate)
    }

    // MARK: - Windows

    private var availableFrames: Int { pendingStart + pending[0].frames }

    private func runReadyWindows(final: Bool) {
        while nextFrame < availableFrames {
            let keepEnd = min(nextFrame + chunk, availableFrames)
            // Without the full right margin, wait for more input unless this is the end.
            if !final && keepEnd + radius > availableFrames { break }
            let windowStart = max(0, nextFrame - radius)
            let windowEnd = min(availableFrames, keepEnd + radius)
            runWindow(windowStart..<windowEnd, keep: nextFrame..<keepEnd)
            nextFrame = keepEnd
        }
        // Once per call, not per window: each drop moves every frame still pending, so dropping per window
        // made one large input quadratic.
        dropHistory()
    }

    /// Runs the network on absolute frames `window` and applies the mask to frames `keep`.
    ///
    /// The per-bin loops run on buffer pointers taken once per channel: indexing the stored arrays bin by bin
    /// costs a dynamic exclusivity check per access, which took a tenth of `apply`'s time.
    private func runWindow(_ window: Range<Int>, keep: Range<Int>) {
        let bins = stft.bins
        let groups = options.perChannel ? (0..<channelCount).map { [$0] } : [Array(0..<channelCount)]
        let floor = options.maskFloor, wet = options.mix
        for group in groups {
            features.resize(rows: window.count, cols: bins)
            features.zero()
            let share = 1 / Float(group.count), first = (window.lowerBound - pendingStart) * bins
            for ch in group {
                let spec = pending[ch], features = self.features
                spec.real.withUnsafeBufferPointer { re in
                    spec.imag.withUnsafeBufferPointer { im in
                        frameScratch.withUnsafeMutableBufferPointer { scratch in
                            let logPower = scratch.baseAddress!
                            for row in 0..<window.count {
                                let offset = first + row * bins
                                Features.logPower(real: re.baseAddress! + offset, imag: im.baseAddress! + offset,
                                                  bins: bins, into: logPower)
                                let dst = features.row(row)
                                for k in 0..<bins { dst[k] += share * logPower[k] }
                            }
                        }
                    }
                }
            }
            let mask = model.net.forward(features, layout: .single(frames: window.count), training: false)
            if maskExponent != 1 {
                for frame in keep { RowKernel.raise(mask.row(frame - window.lowerBound), bins, to: maskExponent) }
            }
            for ch in group {
                let spec = pending[ch], synthesizer = synthesizers[ch]
                var output: [Float] = []
                swap(&output, &synthesized[ch])  // appended to in place, not copied
                spec.real.withUnsafeBufferPointer { re in
                    spec.imag.withUnsafeBufferPointer { im in
                        maskedReal.withUnsafeMutableBufferPointer { maskedRe in
                            maskedImag.withUnsafeMutableBufferPointer { maskedIm in
                                let outRe = maskedRe.baseAddress!, outIm = maskedIm.baseAddress!
                                for frame in keep {
                                    let row = mask.row(frame - window.lowerBound)
                                    let inRe = re.baseAddress! + (frame - pendingStart) * bins
                                    let inIm = im.baseAddress! + (frame - pendingStart) * bins
                                    for k in 0..<bins {
                                        let gain = wet * max(row[k], floor) + (1 - wet)
                                        outRe[k] = inRe[k] * gain
                                        outIm[k] = inIm[k] * gain
                                    }
                                    synthesizer.push(real: outRe, imag: outIm, into: &output)
                                }
                            }
                        }
                    }
                }
                swap(&output, &synthesized[ch])
            }
        }
    }

    /// Keeps only the frames the next window's left margin needs.
    private func dropHistory() {
        let keepFrom = max(pendingStart, nextFrame - radius)
        let drop = keepFrom - pendingStart
        guard drop > 0 else { return }
        let bins = stft.bins
        for ch in 0..<channelCount {
            pending[ch].real.removeFirst(drop * bins)
            pending[ch].imag.removeFirst(drop * bins)
            pending[ch].frames -= drop
        }
        pendingStart = keepFrom
    }

    // MARK: - Output

    private func collectOutput(final: Bool) -> AudioBuffer {
        var channels: [[Float]] = []
        for ch in 0..<channelCount {
            if final { synthesizers[ch].finish(totalLength: modelSamplesIn, into: &synthesized[ch]) }
            var out = synthesized[ch]
            synthesized[ch].removeAll(keepingCapacity: true)
            if !outputResamplers.isEmpty {
                out = outputResamplers[ch].process(out)
                if final { out += outputResamplers[ch].finish() }
            }
            channels.append(out)
        }
        // Resampling there and back may be off by a sample: never exceed the input, pad at the end.
        let room = framesIn - framesOut
        var count = min(channels[0].count, room)
        if final { count = room }
        for ch in 0..<channelCount {
            if channels[ch].count > count { channels[ch].removeLast(channels[ch].count - count) }
            if channels[ch].count < count { channels[ch] += [Float](repeating: 0, count: count - channels[ch].count) }
        }
        framesOut += count
        return AudioBuffer(channels: channels, sampleRate: sampleRate)
    }
}
