import Foundation

/// How strongly the denoiser acts.
public struct DenoiserOptions: Equatable, Sendable {
    /// The mask never attenuates a bin by more than this many dB; the band above the model's holds to it too. Nil:
    /// the model's own (`DenoiseModel.attenuationLimitDB`, none unless it has one); `.infinity`: none, whatever
    /// the model's.
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
    /// Threads the network may use, for its matrix products and its passes. One by default: a file's modest
    /// products gain nothing from more, and batch workers and a host's audio thread must not fan out. The trainer
    /// validates on its own count. OpenBLAS keeps one count for the whole process, so two denoisers processing at
    /// the same time with different counts share whichever was set last for their matrix products.
    public var threads: Int

    public init(attenuationLimitDB: Float? = nil, mix: Float = 1, maskExponent: Float? = nil, perChannel: Bool = false,
                chunkFrames: Int = 1024, recordsSpeechProbability: Bool = false, threads: Int = 1) {
        self.attenuationLimitDB = attenuationLimitDB
        self.mix = mix
        self.maskExponent = maskExponent
        self.perChannel = perChannel
        self.chunkFrames = chunkFrames
        self.recordsSpeechProbability = recordsSpeechProbability
        self.threads = threads
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
/// State carried between calls: resampler history, STFT overlap, the dry input still to be blended, and the network's
/// memory of earlier frames. A causal model (`MaskNetStream.canStream`) runs on frames as they are complete (on the
/// fixed-latency path one at a time, otherwise all that are ready at once, in one batch of matrix products), its
/// convolutions keeping their own past. Other models run on windows of `chunkFrames` frames plus margins of
/// `historyFrames` before and `lookAheadFrames` after, whose outputs are discarded, so every kept frame sees exactly
/// the inputs it would see in a whole-file pass and memory stays bounded whatever the file length. On both paths a
/// batch holds what has arrived (up to its bound), and OpenBLAS may round products over another number of frames
/// differently in the last bit: input fed in other pieces gives the same output to within that rounding, not bit for
/// bit. Models whose normalisation needs the whole utterance (GroupNorm, InstanceNorm) are run once at `finish()`
/// instead. With a stateful input (the running input normalisation, `InputNormKind.running`, or the noise floor,
/// `MaskNetConfig.floorBands`) each group's state runs on across the windows: every frame goes through it once, in
/// order, when it first enters a window, and the history margins reuse what it gave, so each frame is normalised
/// exactly as in a whole-file pass (the stream path's `MaskNetStream` keeps the same state itself).
///
/// When the input opens in digital silence (frames digitally silent in every channel: exact zeros, or a level under
/// `silenceDBFS`, the dither of a silent 16-bit export: a recorder's pre-roll, a stream's start, a muted
/// microphone), the denoiser puts it out as silence without the network, which starts at the first frame with
/// sound as if the input began there (`utteranceStart`). Training never showed the network such a past: with 2 s
/// of exact zeros before a file, the default model cleaned its first 1.5 s 0.6 dB (SI-SDR) worse, with ±1-step
/// dither 1.45 dB worse (its noise floor sat at the dither). After the first sound, a causal model's stream skips
/// digital silence too: silent frames come out as silence and the network's state runs on across the pause as if
/// it were not there (a 1 s pause of zeros had cost the real-time model 0.80 dB on the 1.5 s after it; now 0.05 dB).
/// A model with look-ahead runs on windows of consecutive frames, so there silence after the first sound goes
/// through the network. Leaving it out of each window made a frame's context depend on where its window starts,
/// so on when input arrives; restarting the network at every pause helped noisy audio, but cost clean speech
/// through a digital noise gate (gaps of 50–100 ms) 0.9 PESQ-WB, each word then starting with no context.
///
/// Two ways to feed it, one per denoiser:
/// - `process(AudioBuffer)` then `finish()`: output is sample-aligned with the input; over all calls it has
///   exactly as many frames as went in (it lags by the STFT and network look-ahead while streaming).
/// - `process(_:into:)` (a `Span` in, a `MutableSpan` out), or `process(_:)` on one `MutableSpan` in place: as many
///   samples out as in, delayed by exactly `latencySamples`, for hosts that run in fixed blocks (plugins). See there.
public final class Denoiser {
    public let model: DenoiseModel
    public let channelCount: Int
    public let sampleRate: Int
    public private(set) var options: DenoiserOptions

    /// Live control: the attenuation limit for frames analysed from now on, read as the limit in force (nil or
    /// `.infinity`: none). Set as `DenoiserOptions.attenuationLimitDB` is: nil gives the model's own, `.infinity`
    /// none. Changing it allocates nothing.
    public var attenuationLimitDB: Float? {
        get { options.attenuationLimitDB }
        set { options.attenuationLimitDB = newValue ?? model.attenuationLimitDB }
    }

    /// Live control: the dry/wet mix for samples handed out from now on. Changing it allocates nothing.
    public var mix: Float {
        get { options.mix }
        set { options.mix = newValue }
    }

    // State is private, except what the fixed-latency path in FixedLatency.swift, an extension, also uses.
    private let plan: BandPlan
    private let stft: STFTConfig
    private let history: Int
    private let lookAhead: Int
    private let chunk: Int
    private let maskExponent: Float
    /// Channels that share one mask: all together, or each alone with `perChannel`.
    private let groups: [[Int]]
    /// One per group when the model runs frame by frame; empty on the windowed path.
    private let streams: [MaskNetStream]
    /// Windowed path with a stateful input, per group: the input stage (`InputStage`), which has seen
    /// every frame before `stagedEnd` once, and the network input it gave frames `pendingStart..<stagedEnd`
    /// [frames × the network's input width], which later windows' history margins read. Empty otherwise: without
    /// state, the network's own stage gives every window's frames the same input.
    private let inputStages: [InputStage]
    private var stagedFeatures: [[Float]]
    private var stagedEnd = 0
    /// The step path's masks of the frames stepped at once [frames × modelBins].
    private let stepMask: Matrix
    private var inputResamplers: [Resampler]
    var outputResamplers: [Resampler]
    private var analyzers: [STFTAnalyzer]
    private var synthesizers: [STFTSynthesizer]
    /// Per channel: spectrum frames from absolute frame `pendingStart` on.
    private var pending: [Spectrogram]
    private var pendingStart = 0
    /// Absolute index of the first frame whose mask is not yet applied.
    private var nextFrame = 0
    /// Absolute index of the first frame with sound, where the network's utterance starts; nil before it. Frames
    /// before it never reach the network.
    private var utteranceStart: Int?
    /// A frame whose power summed over its bins is under this is digital silence: white noise at `silenceDBFS`
    /// (RMS, full scale 1) gives it on average, Σ_k |X_k|² ≈ (nFFT / 2) · σ² · Σ w² with FFTW's unnormalised
    /// transform.
    private let silencePower: Float
    /// Per channel: input samples not yet matched by output (kept whatever the mix, which may change).
    private var dry: [[Float]]
    private var analysedSamples = 0
    var framesIn = 0
    private var framesOut = 0
    private var finished = false
    // Reused per window.
    private let features = Matrix(rows: 0, cols: 0)
    /// With a stateful input: the window's network input [frames × input width], from the input stage.
    private let networkInput = Matrix(rows: 0, cols: 0)
    /// One frame's log-power, and its real and imaginary parts scaled to the model's amplitudes: [3 × modelBins].
    private let frameScratch: Matrix
    /// Gains of the kept frames, `[frames × bins]`; grows to the largest window, never shrinks.
    private let gains = Matrix(rows: 0, cols: 0)
    /// One masked frame, real and imaginary parts: [2 × bins].
    private let masked: Matrix
    var synthesized: [[Float]]
    /// Speech probabilities of the frames masked since the last `takeSpeechProbabilities()`.
    private var speechProbabilities: [Float] = []
    var mode = Mode.fresh
    /// Fixed-latency path, per channel: denoised samples waiting to be handed out, and the input delayed by
    /// `latencySamples` to blend with them. Made at init (empty for models without a fixed latency).
    var wet: [SampleRing] = []
    var delayedDry: [SampleRing] = []
    /// Fixed-latency path below the model's rate: one step's resampler output, either way.
    var resampled: [Float] = []
    /// Fixed-latency path: input samples per internal step, at most one hop's worth, so that each step completes
    /// at most about one frame and every buffer keeps a fixed size whatever the host's block size.
    let fixedStep: Int

    /// Output is delayed by exactly this many samples at the input's rate on the fixed-latency path
    /// (`process(_:into:)`): output[n + latencySamples] is the denoised input[n]. It is the analysis frame less
    /// one sample (a sample that opens a frame waits for the nFFT − 1 after it), plus the network's look-ahead
    /// and chunking for non-causal models, plus below the model's rate the two resamplers' filter support: 511
    /// samples at 16 kHz and 1535 at 48 kHz for a causal 512/256 model. Nil for models that normalise over the
    /// whole utterance, which have no fixed latency.
    public let latencySamples: Int?

    enum Mode {
        case fresh, buffered, fixedLatency
    }

    /// The level under which a frame is digital silence (RMS, dB relative to full scale): two steps of 16-bit audio
    /// (−84 dBFS), above the ±1-step dither a silent 16-bit export carries; a room quieter than that is put out as
    /// silence too.
    public static let silenceDBFS: Float = -84

    public convenience init(model: DenoiseModel, channelCount: Int, sampleRate: Int,
                            options: DenoiserOptions = .init()) {
        self.init(model: model, channelCount: channelCount, sampleRate: sampleRate, options: options,
                  stepsFrames: true)
    }

    /// `stepsFrames`: false runs even a causal model on windows (the tests compare the two paths).
    init(model: DenoiseModel, channelCount: Int, sampleRate: Int, options: DenoiserOptions, stepsFrames: Bool) {
        precondition(channelCount >= 1, "a Denoiser needs at least one channel")
        precondition(options.chunkFrames >= 1, "chunkFrames must be positive")
        precondition(options.threads >= 1, "threads must be positive")
        precondition(options.maskExponent.map(DenoiseModel.maskExponents.contains) ?? true,
                     "the mask exponent must be \(DenoiseModel.maskExponentsDescription)")
        // Set once here too, where allocating is allowed: the first change of OpenBLAS's count starts its thread
        // pool, which must not happen on a host's audio thread. `runReadyWindows` then finds it already set.
        BLAS.useThreads(options.threads)
        self.model = model
        self.channelCount = channelCount
        self.sampleRate = sampleRate
        self.options = options
        self.options.attenuationLimitDB = options.attenuationLimitDB ?? model.attenuationLimitDB
        plan = BandPlan(model: model, inputRate: sampleRate)
        stft = plan.stft
        let windowPower = Window.make(plan.stft.window, size: plan.stft.nFFT).reduce(0) { $0 + $1 * $1 }
        silencePower = Float(plan.stft.nFFT / 2) * pow(10, Denoiser.silenceDBFS / 10) * windowPower
        groups = options.perChannel ? (0..<channelCount).map { [$0] } : [Array(0..<channelCount)]
        // A network that cannot stream is the windowed path's job; `canStream` is the whole condition.
        streams = stepsFrames && MaskNetStream.canStream(model.net.config)
            ? (try? groups.map { _ in try MaskNetStream(model.net) }) ?? [] : []
        // Only the running norm and the noise floor have state to carry across windows; without them each window's
        // network runs its own stage, which gives every frame the same input whichever window it is in.
        inputStages = streams.isEmpty && model.net.hasStatefulInput
            ? groups.map { _ in model.net.makeInputStage() } : []
        stagedFeatures = Array(repeating: [], count: inputStages.count)
        stepMask = Matrix(rows: 1, cols: plan.modelBins)
        history = streams.isEmpty ? model.net.config.historyFrames : 0
        lookAhead = model.net.config.lookAheadFrames
        chunk = model.net.config.norm.isFrameLocal ? options.chunkFrames : Int.max / 4
        maskExponent = options.maskExponent ?? model.maskExponent
        let resample = plan.resampled
        inputResamplers = resample
            ? (0..<channelCount).map { _ in Resampler(from: sampleRate, to: model.sampleRate) } : []
        outputResamplers = resample
            ? (0..<channelCount).map { _ in Resampler(from: model.sampleRate, to: sampleRate) } : []
        analyzers = (0..<channelCount).map { [stft] _ in STFTAnalyzer(config: stft) }
        synthesizers = (0..<channelCount).map { [stft] _ in STFTSynthesizer(config: stft) }
        pending = (0..<channelCount).map { [stft] _ in Spectrogram(frames: 0, bins: stft.bins) }
        dry = Array(repeating: [], count: channelCount)
        frameScratch = Matrix(rows: 3, cols: plan.modelBins)
        masked = Matrix(rows: 2, cols: stft.bins)
        synthesized = Array(repeating: [], count: channelCount)
        fixedStep = max(1, plan.resampled ? stft.hop * sampleRate / model.sampleRate : stft.hop)
        latencySamples = Denoiser.fixedLatency(plan: plan, model: model, inputRate: sampleRate, chunk: chunk,
                                               streaming: !streams.isEmpty,
                                               resamplers: (inputResamplers.first, outputResamplers.first))
        if let latency = latencySamples {
            // Everything the fixed-latency path touches, sized once: it must not allocate while running.
            let room = latency + 2 * fixedStep + 1
            wet = (0..<channelCount).map { _ in SampleRing(capacity: room) }
            delayedDry = (0..<channelCount).map { _ in SampleRing(capacity: room) }
            for ch in 0..<channelCount {
                pending[ch].reserveFrames(8)
                synthesized[ch].reserveCapacity(8 * stft.hop)
            }
            features.resize(rows: 1, cols: plan.modelBins)
            gains.resize(rows: 1, cols: stft.bins)
            if plan.resampled {
                // A step is at most a hop at the model's rate coming in, and the hops it completes going out.
                for ch in 0..<channelCount {
                    inputResamplers[ch].reserve(chunk: fixedStep)
                    outputResamplers[ch].reserve(chunk: 8 * stft.hop)
                }
                resampled = [Float](repeating: 0, count: 8 * stft.hop + 16)
            }
            // A network's first step allocates state that lives on (OpenBLAS's buffers, the runtime's): one
            // silent frame through each stream here, where allocating is allowed, so that a stream that opens
            // in digital silence does not pay for it at its first sound, on a host's audio thread.
            features.zero()
            for stream in streams {
                stream.step(features.data, frames: 1, mask: stepMask.data)
                stream.reset()
            }
        }
    }

    /// The STFT the network's frames come from: at the input's rate, or at the model's when the input is below it.
    var analysisSTFT: STFTConfig { stft }
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
        precondition(mode != .fixedLatency, "Denoiser: process(AudioBuffer) after process(_:into:)")
        mode = .buffered
        framesIn += input.frameCount
        for ch in 0..<channelCount {
            dry[ch].append(contentsOf: input.channels[ch])
            input.channels[ch].withUnsafeBufferPointer { analyse($0, channel: ch) }
        }
        runReadyWindows(final: false)
        return collectOutput(final: false)
    }

    /// Flushes everything still inside the denoiser; the output then totals the input's length.
    public func finish() -> AudioBuffer {
        precondition(!finished, "Denoiser.finish called twice")
        precondition(mode != .fixedLatency, "Denoiser: finish() after process(_:into:), which never ends")
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
    public static func enhance(_ input: AudioBuffer, model: DenoiseModel,
                               options: DenoiserOptions = .init()) -> AudioBuffer {
        let denoiser = Denoiser(model: model, channelCount: input.channelCount, sampleRate: input.sampleRate,
                                options: options)
        let head = denoiser.process(input)
        let tail = denoiser.finish()
        return AudioBuffer(channels: zip(head.channels, tail.channels).map { $0 + $1 }, sampleRate: input.sampleRate)
    }

    // MARK: - Windows

    /// The most frames a causal model steps at once outside the fixed-latency path: past about a hundred frames
    /// the matrix products gain little, and every layer keeps a buffer of this many frames.
    static let mostStepFrames = 128

    private var availableFrames: Int { pendingStart + pending[0].frames }

    func runReadyWindows(final: Bool) {
        BLAS.useThreads(options.threads)
        if !streams.isEmpty {
            // Causal: every complete frame is final. The fixed-latency path steps one at a time, on buffers sized
            // at init; the others step all that are ready, up to a chunk, as one batch of matrix products.
            let most = mode == .fixedLatency ? 1 : min(chunk, Denoiser.mostStepFrames)
            while nextFrame < availableFrames {
                let end = min(nextFrame + most, availableFrames)
                guard passLeadingSilence(upTo: end) else { continue }
                // After the first sound too, the stream does not step on digital silence: its state runs on
                // across the pause as if the pause were not there.
                let soundEnd = endOfRun(in: nextFrame..<end, silent: false)
                if soundEnd == nextFrame {
                    passSilence(upTo: end)
                    continue
                }
                runFrames(nextFrame..<soundEnd)
                nextFrame = soundEnd
            }
            dropHistory()
            return
        }
        while nextFrame < availableFrames {
            let keepEnd = min(nextFrame + chunk, availableFrames)
            // Without the full right margin, wait for more input unless this is the end.
            if !final && keepEnd + lookAhead > availableFrames { break }
            guard passLeadingSilence(upTo: keepEnd) else { continue }
            let windowStart = max(utteranceStart ?? nextFrame, nextFrame - history)
            let windowEnd = min(availableFrames, keepEnd + lookAhead)
            runWindow(windowStart..<windowEnd, keep: nextFrame..<keepEnd)
            nextFrame = keepEnd
        }
        // Once per call, not per window: each drop moves every frame still pending, so dropping per window
        // made one large input quadratic.
        dropHistory()
    }

    /// Before the first sound: puts out the silent frames from `nextFrame` up to `end` (at most) as silence, with
    /// speech probability 0, and moves `nextFrame` past them. Returns true when the network is to run from
    /// `nextFrame` on: the first sound was there or earlier (`utteranceStart`), and no window reaches back past it.
    private func passLeadingSilence(upTo end: Int) -> Bool {
        guard utteranceStart == nil else { return true }
        passSilence(upTo: end)
        guard nextFrame < end else { return false }
        // The network's state is fresh: only where its input starts moves. Once per input, the silent frames go
        // (no window reaches back past the first sound), so the staged input starts with the pending frames.
        utteranceStart = nextFrame
        dropHistory()
        stagedEnd = nextFrame
        return true
    }

    /// Puts out the digitally silent frames from `nextFrame` up to `end` (at most) as silence, with speech
    /// probability 0, without the network, and moves `nextFrame` past them.
    private func passSilence(upTo end: Int) {
        let silentEnd = endOfRun(in: nextFrame..<end, silent: true)
        guard silentEnd > nextFrame else { return }
        let silent = nextFrame..<silentEnd
        gains.resize(rows: silent.count, cols: stft.bins)
        gains.zero()
        for ch in 0..<channelCount { applyGains(channel: ch, keep: silent) }
        if options.recordsSpeechProbability && model.hasSpeechHead {
            for _ in silent { speechProbabilities.append(0) }
        }
        nextFrame = silentEnd
    }

    /// The first frame of `frames` that is not like the run from its start: digitally silent (`silent`) or not.
    private func endOfRun(in frames: Range<Int>, silent: Bool) -> Int {
        var frame = frames.lowerBound
        while frame < frames.upperBound && isDigitalSilence(frame: frame) == silent { frame += 1 }
        return frame
    }

    /// Whether absolute frame `frame` is digitally silent in every channel: its power summed over the bins is under
    /// `silencePower` (exact zeros give 0). A frame with sound stops the sum within a few bins.
    private func isDigitalSilence(frame: Int) -> Bool {
        let offset = (frame - pendingStart) * stft.bins, bins = stft.bins, limit = silencePower
        var silent = true
        for ch in 0..<channelCount where silent {
            pending[ch].withUnsafeParts { re, im in
                var power: Float = 0
                for k in 0..<bins {
                    power += re[offset + k] * re[offset + k] + im[offset + k] * im[offset + k]
                    if power >= limit {
                        silent = false
                        return
                    }
                }
            }
        }
        return silent
    }

    /// Runs the network on absolute frames `window` and applies its gains to frames `keep`.
    ///
    /// The per-bin loops run on buffer pointers taken once per channel: indexing the stored arrays bin by bin
    /// costs a dynamic exclusivity check per access, which took a tenth of `apply`'s time.
    private func runWindow(_ window: Range<Int>, keep: Range<Int>) {
        let recordsSpeech = options.recordsSpeechProbability && model.hasSpeechHead
        let firstRecorded = speechProbabilities.count
        if recordsSpeech { speechProbabilities += repeatElement(0, count: keep.count) }
        for (g, group) in groups.enumerated() {
            computeFeatures(group, window: window)
            let input = inputStages.isEmpty ? features : stagedInput(group: g, window: window)
            var layout = SequenceBatch.single(frames: window.count)
            layout.parallelism = Parallelism(threads: options.threads)
            let mask = model.net.forward(input, layout: layout, training: false, inputStaged: !inputStages.isEmpty)
            if recordsSpeech, let logits = model.net.speechLogits {
                for frame in keep {
                    addSpeech(logit: logits[frame - window.lowerBound, 0], at: firstRecorded + frame - keep.lowerBound)
                }
            }
            if maskExponent != 1 {
                for frame in keep {
                    RowKernel.raise(mask.row(frame - window.lowerBound), plan.modelBins, to: maskExponent)
                }
            }
            computeGains(mask, group: group, window: window, keep: keep)
            for ch in group { applyGains(channel: ch, keep: keep) }
        }
        stagedEnd = max(stagedEnd, window.upperBound)
    }

    /// One group's window of `features` through its input stage, into `networkInput`: frames an earlier window
    /// took in (its history margin) are copied from what the stage gave them then; later ones go through the stage
    /// (into bands with input bands, then normalised), in order, and are kept for the next windows.
    private func stagedInput(group g: Int, window: Range<Int>) -> Matrix {
        precondition(window.lowerBound >= pendingStart && window.lowerBound <= stagedEnd,
                     "Denoiser: window \(window) leaves a gap after staged frame \(stagedEnd)")
        let stage = inputStages[g], width = stage.inputWidth
        networkInput.resize(rows: window.count, cols: width)
        for frame in window {
            let row = networkInput.row(frame - window.lowerBound), source = features.row(frame - window.lowerBound)
            if frame < stagedEnd {
                stagedFeatures[g].withUnsafeBufferPointer { done in
                    guard let base = done.baseAddress else { return }
                    row.update(from: base + (frame - pendingStart) * width, count: width)
                }
            } else {
                stage.transformFrame(source, into: row)
                stagedFeatures[g].append(contentsOf: UnsafeBufferPointer(start: row, count: width))
            }
        }
        return networkInput
    }

    /// Adds one group's share of a frame's speech probability, σ(logit), to the recorded value at `index`.
    private func addSpeech(logit: Float, at index: Int) {
        speechProbabilities[index] += 1 / (1 + exp(-logit)) / Float(groups.count)
    }

    /// Runs each group's stream on absolute frames `frames` and applies their gains.
    private func runFrames(_ frames: Range<Int>) {
        let bins = plan.modelBins, count = frames.count
        // Loops by index here and in the helpers: iterating an array allocated an iterator per frame in debug
        // builds, and the one-frame steps must not allocate.
        let recordsSpeech = options.recordsSpeechProbability && model.hasSpeechHead
        let firstRecorded = speechProbabilities.count
        if recordsSpeech { for _ in 0..<count { speechProbabilities.append(0) } }
        stepMask.resize(rows: count, cols: bins)
        for g in 0..<groups.count {
            let group = groups[g]
            computeFeatures(group, window: frames)
            streams[g].step(features.data, frames: count, mask: stepMask.data)
            if recordsSpeech {
                let logits = streams[g].speechLogits
                for t in 0..<count { addSpeech(logit: logits[t], at: firstRecorded + t) }
            }
            if maskExponent != 1 { RowKernel.raise(stepMask.data, count * bins, to: maskExponent) }
            computeGains(stepMask, group: group, window: frames, keep: frames)
            for i in 0..<group.count { applyGains(channel: group[i], keep: frames) }
        }
    }

    /// Log-power of the model's band, averaged over the group's channels, into `features`.
    private func computeFeatures(_ group: [Int], window: Range<Int>) {
        let bins = stft.bins, modelBins = plan.modelBins
        features.resize(rows: window.count, cols: modelBins)
        features.zero()
        let share = 1 / Float(group.count), first = (window.lowerBound - pendingStart) * bins
        let features = self.features, scale = plan.featureScale
        let logPower = frameScratch.row(0), sRe = frameScratch.row(1), sIm = frameScratch.row(2)
        for i in 0..<group.count {
            pending[group[i]].withUnsafeParts { re, im in
                guard let inRe = re.baseAddress, let inIm = im.baseAddress else { return }
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

    /// Per kept frame and bin, the gain: the mask in the model's band, the high-band gain above it, a blend of the
    /// two across the crossover; never below the attenuation limit.
    private func computeGains(_ mask: Matrix, group: [Int], window: Range<Int>, keep: Range<Int>) {
        let bins = stft.bins, modelBins = plan.modelBins, floor = options.maskFloor
        let blendStart = plan.crossoverStart
        gains.resize(rows: keep.count, cols: bins)
        plan.crossoverWeights.withUnsafeBufferPointer { weights in
            for frame in keep {
                let row = mask.row(frame - window.lowerBound)
                let gain = gains.row(frame - keep.lowerBound)
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

    /// √(Σ m²·P / Σ P) over the reference bins, P the group's power: the amplitude share the mask keeps there.
    /// A silent reference band takes the mask's mean instead.
    private func highBandGain(mask row: UnsafeMutablePointer<Float>, group: [Int], frame: Int) -> Float {
        let reference = plan.referenceBins, offset = (frame - pendingStart) * stft.bins
        var kept: Float = 0, total: Float = 0
        for i in 0..<group.count {
            pending[group[i]].withUnsafeParts { re, im in
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
        let outRe = masked.row(0), outIm = masked.row(1), gains = self.gains
        pending[ch].withUnsafeParts { re, im in
            guard let inReAll = re.baseAddress, let inImAll = im.baseAddress else { return }
            for frame in keep {
                let gain = gains.row(frame - keep.lowerBound)
                let inRe = inReAll + (frame - pendingStart) * bins
                let inIm = inImAll + (frame - pendingStart) * bins
                for k in 0..<bins {
                    outRe[k] = inRe[k] * gain[k]
                    outIm[k] = inIm[k] * gain[k]
                }
                synthesizer.push(real: outRe, imag: outIm, into: &output)
            }
        }
        swap(&output, &synthesized[ch])
    }

    /// Keeps only the frames the next window's left margin needs (none before the utterance's start).
    private func dropHistory() {
        let keepFrom = max(pendingStart, nextFrame - history, utteranceStart ?? nextFrame)
        let drop = keepFrom - pendingStart
        guard drop > 0 else { return }
        let bins = stft.bins
        for ch in 0..<channelCount {
            pending[ch].real.removeFirst(drop * bins)
            pending[ch].imag.removeFirst(drop * bins)
            pending[ch].frames -= drop
        }
        let stagedDrop = max(0, min(drop, stagedEnd - pendingStart)) * model.net.config.inputWidth
        for g in 0..<stagedFeatures.count { stagedFeatures[g].removeFirst(stagedDrop) }
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
            blendDry(&channels[ch], channel: ch)
        }
        framesOut += count
        return AudioBuffer(channels: channels, sampleRate: sampleRate)
    }

    /// out = mix · denoised + (1 − mix) · input, with the input as it came: a mix of 0 returns it exactly.
    private func blendDry(_ out: inout [Float], channel ch: Int) {
        let wet = options.mix, count = out.count
        if wet != 1 {
            dry[ch].withUnsafeBufferPointer { input in
                out.withUnsafeMutableBufferPointer { output in
                    for i in 0..<count { output[i] = wet * output[i] + (1 - wet) * input[i] }
                }
            }
        }
        dry[ch].removeFirst(count)
    }

    // MARK: - Analysis

    /// Pushes input samples of one channel into its analysis (through the resampler below the model's rate).
    /// Room is made first for every frame they complete, so the spectrum grows by one allocation, not by doubling
    /// (and not at all once it is large enough).
    func analyse(_ samples: UnsafeBufferPointer<Float>, channel ch: Int) {
        if inputResamplers.isEmpty {
            if ch == 0 { analysedSamples += samples.count }
            pending[ch].reserveFrames(pending[ch].frames + samples.count / stft.hop + 1)
            analyzers[ch].push(samples, into: &pending[ch])
        } else if mode == .fixedLatency {
            let count = resampled.withUnsafeMutableBufferPointer { inputResamplers[ch].process(samples, into: $0) }
            if ch == 0 { analysedSamples += count }
            pending[ch].reserveFrames(pending[ch].frames + count / stft.hop + 1)
            resampled.withUnsafeBufferPointer { analyzers[ch].push(UnsafeBufferPointer(rebasing: $0[..<count]),
                                                                   into: &pending[ch]) }
        } else {
            let samples = inputResamplers[ch].process(Array(samples))
            if ch == 0 { analysedSamples += samples.count }
            pending[ch].reserveFrames(pending[ch].frames + samples.count / stft.hop + 1)
            samples.withUnsafeBufferPointer { analyzers[ch].push($0, into: &pending[ch]) }
        }
    }
}
