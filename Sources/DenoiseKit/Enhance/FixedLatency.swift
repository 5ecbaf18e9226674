/// The fixed-latency path of `Denoiser`: exactly as many samples out as in, delayed by `latencySamples`, for hosts
/// that run in fixed blocks (plugins). It shares the engine with `process(AudioBuffer)`; its own state (the wet and
/// delayed dry lines, the step size, the resampling scratch) is stored in the class and sized at `init`, since an
/// extension cannot hold stored properties.
extension Denoiser {
    /// Mono, fixed latency: denoises `input` and writes exactly `input.count` samples to `output`, which is the
    /// denoised signal delayed by `latencySamples` (zeros until the pipeline is primed). Blocks of any size, one
    /// sample included; for one buffer that is both input and output, use `process(_:)` on a `MutableSpan`. The mix
    /// and attenuation limit may change between calls. Allocates nothing after `init` for a model that runs frame
    /// by frame (frame lengths are chosen so that FFTW transforms them without scratch memory, see `BandPlan`).
    ///
    /// Needs a model with a fixed latency (`latencySamples` not nil), and cannot be mixed with
    /// `process(AudioBuffer)`/`finish()` on one denoiser. The stream never ends: a host that stops simply stops
    /// calling; the last `latencySamples` of input are not flushed.
    public func process(_ input: Span<Float>, into output: inout MutableSpan<Float>) {
        precondition(channelCount == 1, "Denoiser: mono process(_:into:) on \(channelCount) channels")
        precondition(input.count == output.count, "Denoiser: \(input.count) samples in, room for \(output.count) out")
        input.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { output in
                processFixedLatency(count: input.count, input: { _ in input }, output: { _ in output })
            }
        }
    }

    /// Mono, fixed latency, in place: as `process(_:into:)`, with `samples` both the input and the output (a host
    /// that hands the same buffer for both, as LADSPA allows). Each step reads its input before it writes the
    /// output over it.
    public func process(_ samples: inout MutableSpan<Float>) {
        precondition(channelCount == 1, "Denoiser: mono process(_:) on \(channelCount) channels")
        samples.withUnsafeMutableBufferPointer { samples in
            processFixedLatency(count: samples.count, input: { _ in UnsafeBufferPointer(samples) },
                                output: { _ in samples })
        }
    }

    /// Planar, fixed latency: as the mono form, one buffer per channel, all of the same length; an output may be
    /// its channel's input (in place). The arrays are the caller's; reusing them (assigning their elements) keeps a
    /// call free of allocation.
    func process(_ input: [UnsafeBufferPointer<Float>], into output: [UnsafeMutableBufferPointer<Float>]) {
        precondition(input.count == channelCount && output.count == channelCount,
                     "Denoiser: \(input.count) input and \(output.count) output channels, expected \(channelCount)")
        let count = input.first?.count ?? 0
        precondition(input.allSatisfy { $0.count == count } && output.allSatisfy { $0.count == count },
                     "Denoiser: planar buffers of different lengths")
        processFixedLatency(count: count, input: { input[$0] }, output: { output[$0] })
    }

    private func processFixedLatency(count n: Int, input: (Int) -> UnsafeBufferPointer<Float>,
                                     output: (Int) -> UnsafeMutableBufferPointer<Float>) {
        guard latencySamples != nil else {
            preconditionFailure("Denoiser: a model that normalises over the whole utterance has no fixed latency")
        }
        precondition(mode != .buffered, "Denoiser: process(_:into:) after process(AudioBuffer)")
        if mode == .fresh {
            mode = .fixedLatency
            // The delay: both lines start with latencySamples of zeros.
            for ch in 0..<channelCount {
                wet[ch].push(nil, count: latencySamples ?? 0)
                delayedDry[ch].push(nil, count: latencySamples ?? 0)
            }
        }
        var done = 0
        while done < n {
            let count = min(fixedStep, n - done)
            framesIn += count
            for ch in 0..<channelCount {
                let piece = UnsafeBufferPointer(rebasing: input(ch)[done ..< done + count])
                analyse(piece, channel: ch)
                if let base = piece.baseAddress { delayedDry[ch].push(base, count: count) }
            }
            runReadyWindows(final: false)
            let wetness = options.mix
            for ch in 0..<channelCount {
                moveSynthesizedToWet(channel: ch)
                let out = output(ch), wetLine = wet[ch], dryLine = delayedDry[ch]
                for i in done ..< done + count {
                    let w = wetLine.pop(), d = dryLine.pop()
                    // As `blendDry`: a mix of 0 gives the delayed input exactly.
                    out[i] = wetness == 1 ? w : wetness * w + (1 - wetness) * d
                }
            }
            done += count
        }
    }

    /// Hands what the synthesizer made (back at the input's rate) to the channel's wet line.
    private func moveSynthesizedToWet(channel ch: Int) {
        if outputResamplers.isEmpty {
            synthesized[ch].withUnsafeBufferPointer { wet[ch].push($0.baseAddress, count: $0.count) }
        } else {
            let count = synthesized[ch].withUnsafeBufferPointer { input in
                resampled.withUnsafeMutableBufferPointer { outputResamplers[ch].process(input, into: $0) }
            }
            resampled.withUnsafeBufferPointer { wet[ch].push($0.baseAddress, count: count) }
        }
        synthesized[ch].removeAll(keepingCapacity: true)
    }

    /// The least delay D for which, after any number c of input samples fed one at a time, the pipeline has put
    /// out at least c − D samples; nil when output waits for the whole utterance. Each stage's output count is a
    /// function of its input count alone (resampler: `readyOutputCount`; analysis: a frame per hop; network:
    /// every frame, or whole chunks once the look-ahead is in; synthesis: a hop per frame after the leading
    /// padding). Everything after the analysis moves only when a frame completes, so the lag c − output(c) grows
    /// a sample per sample in between and peaks just before some frame completes; the pattern repeats after a
    /// start-up transient, so the frames of the transient and two periods give the maximum exactly.
    static func fixedLatency(plan: BandPlan, model: DenoiseModel, inputRate: Int, chunk: Int,
                                     streaming: Bool, resamplers: (Resampler?, Resampler?)) -> Int? {
        let config = model.net.config
        guard config.norm.isFrameLocal else { return nil }
        let hop = plan.stft.hop, lead = plan.stft.leadingPadding, lookAhead = config.lookAheadFrames
        let batch = streaming || lookAhead == 0 ? 1 : chunk
        func framesAnalysed(_ c: Int) -> Int { (resamplers.0?.readyOutputCount(afterInput: c) ?? c) / hop }
        func produced(_ c: Int) -> Int {
            let networked = batch * (max(0, framesAnalysed(c) - lookAhead) / batch)
            let synthesized = max(0, networked * hop - lead)
            return min(c, resamplers.1?.readyOutputCount(afterInput: synthesized) ?? synthesized)
        }
        // Frames per period: the network's batch, and below the model's rate also whole resampler cycles
        // (R/g model samples each).
        var periodFrames = batch
        var transientFrames = lookAhead + batch + plan.stft.overlap + 2
        if plan.resampled {
            let cycle = model.sampleRate / gcd(inputRate, model.sampleRate)
            periodFrames = lcm(batch * hop, cycle) / hop
            transientFrames += 4096 / hop + 1  // the two resamplers' filter support, a few hundred samples
        }
        var latency = 0, before = 0  // `before`: an input count that has not completed the frame sought
        for frame in 1...(transientFrames + 2 * periodFrames) {
            // The first input count completing `frame`: gallop, then bisect (framesAnalysed is monotone).
            var after = before + 1
            while framesAnalysed(after) < frame { after = before + 2 * (after - before) }
            while after - before > 1 {
                let middle = (before + after) / 2
                if framesAnalysed(middle) < frame { before = middle } else { after = middle }
            }
            latency = max(latency, before - produced(before))
        }
        return latency
    }

    private static func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
    private static func lcm(_ a: Int, _ b: Int) -> Int { a / gcd(a, b) * b }
}
