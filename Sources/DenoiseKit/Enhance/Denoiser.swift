import Foundation

/// How strongly the denoiser acts.
public struct DenoiserOptions: Equatable, Sendable {
    /// The mask never attenuates a bin by more than this many dB (nil: no limit); the band above the model's holds
    /// to it too.
    public var attenuationLimitDB: Float?
    /// Dry/wet: 1 is fully denoised, 0 is the input unchanged. The dry part is the input as it came, at its own
    /// rate, so 0 returns it sample for sample.
    public var mix: Float
    /// The power the mask is raised to before the attenuation limit (nil: the model's own, see
    /// `DenoiseModel.maskExponent`).
    public var maskExponent: Float?
    /// Estimate one mask per channel instead of one shared mask (which keeps the stereo image).
    public var perChannel: Bool
    /// Frames of output computed per network call; larger is faster, smaller uses less memory.
    public var chunkFrames: Int
    /// Keep the speech probability of every masked frame for `takeSpeechProbabilities()` (models with the speech
    /// head only). Off by default, so that a caller who never drains them does not grow a list.
    public var recordsSpeechProbability: Bool

    public init(attenuationLimitDB: Float? = nil, mix: Float = 1, maskExponent: Float? = nil, perChannel: Bool = false,
                chunkFrames: Int = 1024, recordsSpeechProbability: Bool = false) {
        self.attenuationLimitDB = attenuationLimitDB
        self.mix = mix
        self.maskExponent = maskExponent
        self.perChannel = perChannel
        self.chunkFrames = chunkFrames
        self.recordsSpeechProbability = recordsSpeechProbability
    }

    /// The smallest mask value allowed, as a linear gain.
    var maskFloor: Float { attenuationLimitDB.map { Float(pow(10, Double(-$0) / 20)) } ?? 0 }
}

/// The one denoising engine: feed it audio in chunks of any size, get enhanced audio back.
///
/// The input keeps its own rate. At or above the model's rate it is analysed there, with frames as long as the
/// model's; the network masks the model's band and the bins above it get one gain per frame derived from the mask
/// (`BandPlan`, `HighBandSettings`). Below the model's rate it is resampled up to it and back. `mix` blends with
/// the input as it came.
///
/// State carried between calls: resampler history, STFT overlap, the dry input still to be blended, and the last
/// `historyFrames` frames of spectrum (the network's left context). The network runs on windows of
/// `chunkFrames` frames plus margins of `historyFrames` before and `lookAheadFrames` after, whose outputs are
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

    private let plan: BandPlan
    private let stft: STFTConfig
    private let history: Int
    private let lookAhead: Int
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
    /// Per channel, when `mix` < 1: input samples not yet matched by output.
    private var dry: [[Float]]
    private var analysedSamples = 0
    private var framesIn = 0
    private var framesOut = 0
    private var finished = false
    // Reused per window.
    private let features = Matrix(rows: 0, cols: 0)
    private var frameScratch: [Float]
    private var scaledReal: [Float]
    private var scaledImag: [Float]
    /// Gains of the kept frames, `[frames × bins]`.
    private var gains: [Float] = []
    private var maskedReal: [Float]
    private var maskedImag: [Float]
    private var synthesized: [[Float]]
    /// Speech probabilities of the frames masked since the last `takeSpeechProbabilities()`.
    private var speechProbabilities: [Float] = []

    public init(model: DenoiseModel, channelCount: Int, sampleRate: Int, options: DenoiserOptions = .init()) {
        precondition(channelCount >= 1, "a Denoiser needs at least one channel")
        precondition(options.chunkFrames >= 1, "chunkFrames must be positive")
        precondition(options.maskExponent.map(DenoiseModel.maskExponents.contains) ?? true,
                     "the mask exponent must be \(DenoiseModel.maskExponentsDescription)")
        self.model = model
        self.channelCount = channelCount
        self.sampleRate = sampleRate
        self.options = options
        plan = BandPlan(model: model, inputRate: sampleRate)
        stft = plan.stft
        history = model.net.config.historyFrames
        lookAhead = model.net.config.lookAheadFrames
        chunk = model.net.config.norm.isFrameLocal ? options.chunkFrames : Int.max / 4
        maskExponent = options.maskExponent ?? model.maskExponent
        let resample = plan.resampled
        inputResamplers = resample ? (0..<channelCount).map { _ in Resampler(from: sampleRate, to: model.sampleRate) } : []
        outputResamplers = resample ? (0..<channelCount).map { _ in Resampler(from: model.sampleRate, to: sampleRate) } : []
        analyzers = (0..<channelCount).map { [stft] _ in STFTAnalyzer(config: stft) }
        synthesizers = (0..<channelCount).map { [stft] _ in STFTSynthesizer(config: stft) }
        pending = (0..<channelCount).map { [stft] _ in Spectrogram(frames: 0, bins: stft.bins) }
        dry = Array(repeating: [], count: channelCount)
        frameScratch = [Float](repeating: 0, count: plan.modelBins)
        scaledReal = frameScratch
        scaledImag = frameScratch
        maskedReal = [Float](repeating: 0, count: stft.bins)
        maskedImag = maskedReal
        synthesized = Array(repeating: [], count: channelCount)
    }

    /// The STFT the network's frames come from: at the input's rate, or at the model's when the input is below it.
    public var analysisSTFT: STFTConfig { stft }
    /// The sample rate `analysisSTFT` runs at.
    public var analysisRate: Int { plan.resampled ? model.sampleRate : sampleRate }
    /// Seconds from one frame to the next: frame t (of `takeSpeechProbabilities()`) starts at t × this.
    public var frameSeconds: Double { Double(stft.hop) / Double(analysisRate) }

    /// The speech probability of each frame masked since the last call, in frame order, and forgets them; frames
    /// are counted from the start of the input, `frameSeconds` apart. Empty unless the model has the speech head
    /// and `recordsSpeechProbability` is on. With `perChannel`, the mean over the channels' probabilities.
    public func takeSpeechProbabilities() -> [Float] {
        defer { speechProbabilities.removeAll(keepingCapacity: true) }
        return speechProbabilities
    }

    /// Denoises the next chunk of input; returns the output that is ready (possibly none yet).
    public func process(_ input: AudioBuffer) -> AudioBuffer {
        precondition(!finished, "Denoiser.process called after finish()")
        precondition(input.channelCount == channelCount, "expected \(channelCount) channels, got \(input.channelCount)")
        framesIn += input.frameCount
        for ch in 0..<channelCount {
            if options.mix != 1 { dry[ch].append(contentsOf: input.channels[ch]) }
            let samples = inputResamplers.isEmpty ? input.channels[ch] : inputResamplers[ch].process(input.channels[ch])
            if ch == 0 { analysedSamples += samples.count }
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
                if ch == 0 { analysedSamples += tail.count }
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
            if !final && keepEnd + lookAhead > availableFrames { break }
            let windowStart = max(0, nextFrame - history)
            let windowEnd = min(availableFrames, keepEnd + lookAhead)
            runWindow(windowStart..<windowEnd, keep: nextFrame..<keepEnd)
            nextFrame = keepEnd
        }
        // Once per call, not per window: each drop moves every frame still pending, so dropping per window
        // made one large input quadratic.
        dropHistory()
    }

    /// Runs the network on absolute frames `window` and applies its gains to frames `keep`.
    ///
    /// The per-bin loops run on buffer pointers taken once per channel: indexing the stored arrays bin by bin
    /// costs a dynamic exclusivity check per access, which took a tenth of `apply`'s time.
    private func runWindow(_ window: Range<Int>, keep: Range<Int>) {
        let groups = options.perChannel ? (0..<channelCount).map { [$0] } : [Array(0..<channelCount)]
        let recordsSpeech = options.recordsSpeechProbability && model.hasSpeechHead
        let firstRecorded = speechProbabilities.count
        if recordsSpeech { speechProbabilities += repeatElement(0, count: keep.count) }
        for group in groups {
            computeFeatures(group, window: window)
            let mask = model.net.forward(features, layout: .single(frames: window.count), training: false)
            if recordsSpeech, let logits = model.net.speechLogits {
                let share = 1 / Float(groups.count)
                for frame in keep {
                    let probability = 1 / (1 + exp(-logits[frame - window.lowerBound, 0]))
                    speechProbabilities[firstRecorded + frame - keep.lowerBound] += share * probability
                }
            }
            if maskExponent != 1 {
                for frame in keep { RowKernel.raise(mask.row(frame - window.lowerBound), plan.modelBins, to: maskExponent) }
            }
            computeGains(mask, group: group, window: window, keep: keep)
            for ch in group { applyGains(channel: ch, keep: keep) }
        }
    }

    /// Log-power of the model's band, averaged over the group's channels, into `features`.
    private func computeFeatures(_ group: [Int], window: Range<Int>) {
        let bins = stft.bins, modelBins = plan.modelBins
        features.resize(rows: window.count, cols: modelBins)
        features.zero()
        let share = 1 / Float(group.count), first = (window.lowerBound - pendingStart) * bins
        for ch in group {
            let features = self.features, scale = plan.featureScale
            pending[ch].withUnsafeParts { re, im in
                frameScratch.withUnsafeMutableBufferPointer { scratch in
                    scaledReal.withUnsafeMutableBufferPointer { scaledRe in
                        scaledImag.withUnsafeMutableBufferPointer { scaledIm in
                            guard let logPower = scratch.baseAddress, let inRe = re.baseAddress,
                                  let inIm = im.baseAddress, let sRe = scaledRe.baseAddress,
                                  let sIm = scaledIm.baseAddress else { return }
                            for row in 0..<window.count {
                                var frameRe = inRe + first + row * bins, frameIm = inIm + first + row * bins
                                if let scale {
                                    for k in 0..<modelBins {
                                        sRe[k] = frameRe[k] * scale
                                        sIm[k] = frameIm[k] * scale
                                    }
                                    frameRe = UnsafePointer(sRe)
                                    frameIm = UnsafePointer(sIm)
                                }
                                Features.logPower(real: frameRe, imag: frameIm, bins: modelBins, into: logPower)
                                let dst = features.row(row)
                                for k in 0..<modelBins { dst[k] += share * logPower[k] }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Per kept frame and bin, the gain: the mask in the model's band, the high-band gain above it, a blend of the
    /// two across the crossover; never below the attenuation limit.
    private func computeGains(_ mask: Matrix, group: [Int], window: Range<Int>, keep: Range<Int>) {
        let bins = stft.bins, modelBins = plan.modelBins, floor = options.maskFloor
        let blendStart = plan.crossoverStart
        if gains.count < keep.count * bins { gains = [Float](repeating: 0, count: keep.count * bins) }
        gains.withUnsafeMutableBufferPointer { gainBuffer in
            plan.crossoverWeights.withUnsafeBufferPointer { weights in
                guard let all = gainBuffer.baseAddress else { return }
                for frame in keep {
                    let row = mask.row(frame - window.lowerBound)
                    let gain = all + (frame - keep.lowerBound) * bins
                    for k in 0..<blendStart { gain[k] = max(row[k], floor) }
                    guard plan.hasHighBand else { continue }
                    let high = highBandGain(mask: row, group: group, frame: frame)
                    for k in blendStart..<modelBins {
                        let w = weights[k - blendStart]
                        gain[k] = max((1 - w) * row[k] + w * high, floor)
                    }
                    for k in modelBins..<bins { gain[k] = max(high, floor) }
                }
            }
        }
    }

    /// √(Σ m²·P / Σ P) over the reference bins, P the group's power: the amplitude share the mask keeps there.
    /// A silent reference band takes the mask's mean instead.
    private func highBandGain(mask row: UnsafeMutablePointer<Float>, group: [Int], frame: Int) -> Float {
        let reference = plan.referenceBins, offset = (frame - pendingStart) * stft.bins
        var kept: Float = 0, total: Float = 0
        for ch in group {
            pending[ch].withUnsafeParts { re, im in
                for k in reference {
                    let power = re[offset + k] * re[offset + k] + im[offset + k] * im[offset + k]
                    kept += row[k] * row[k] * power
                    total += power
                }
            }
        }
        if total > Float.leastNormalMagnitude && kept.isFinite && total.isFinite { return (kept / total).squareRoot() }
        var sum: Float = 0
        for k in reference { sum += row[k] }
        return reference.isEmpty ? 1 : sum / Float(reference.count)
    }

    /// Multiplies the kept frames of one channel by their gains and resynthesises them.
    private func applyGains(channel ch: Int, keep: Range<Int>) {
        let bins = stft.bins
        let synthesizer = synthesizers[ch]
        var output: [Float] = []
        swap(&output, &synthesized[ch])  // appended to in place, not copied
        pending[ch].withUnsafeParts { re, im in
            gains.withUnsafeBufferPointer { gainBuffer in
                maskedReal.withUnsafeMutableBufferPointer { maskedRe in
                    maskedImag.withUnsafeMutableBufferPointer { maskedIm in
                        guard let outRe = maskedRe.baseAddress, let outIm = maskedIm.baseAddress,
                              let inReAll = re.baseAddress, let inImAll = im.baseAddress,
                              let all = gainBuffer.baseAddress else { return }
                        for frame in keep {
                            let gain = all + (frame - keep.lowerBound) * bins
                            let inRe = inReAll + (frame - pendingStart) * bins
                            let inIm = inImAll + (frame - pendingStart) * bins
                            for k in 0..<bins {
                                outRe[k] = inRe[k] * gain[k]
                                outIm[k] = inIm[k] * gain[k]
                            }
                            synthesizer.push(real: outRe, imag: outIm, into: &output)
                        }
                    }
                }
            }
        }
        swap(&output, &synthesized[ch])
    }

    /// Keeps only the frames the next window's left margin needs.
    private func dropHistory() {
        let keepFrom = max(pendingStart, nextFrame - history)
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
            if final { synthesizers[ch].finish(totalLength: analysedSamples, into: &synthesized[ch]) }
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
            if options.mix != 1 { blendDry(&channels[ch], channel: ch) }
        }
        framesOut += count
        return AudioBuffer(channels: channels, sampleRate: sampleRate)
    }

    /// out = mix · denoised + (1 − mix) · input, with the input as it came: a mix of 0 returns it exactly.
    private func blendDry(_ out: inout [Float], channel ch: Int) {
        let wet = options.mix, count = out.count
        dry[ch].withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { output in
                for i in 0..<count { output[i] = wet * output[i] + (1 - wet) * input[i] }
            }
        }
        dry[ch].removeFirst(count)
    }
}
