import Foundation

// Short-time Fourier transform with perfect reconstruction, streaming and whole-signal.
//
// Framing. Let N = nFFT, H = hop, R = N / H (frames covering each sample) and L = N − H.
// The signal x[0..<n] is preceded by L zeros and followed by as many zeros as the last frame needs:
//
//     padded p = [0 × L] ++ x ++ [0 …],   x[m] = p[m + L]
//     frame t  = p[t·H ..< t·H + N] · w,  X[t, f] = Σ_i frame_t[i] · e^(−2πi·f·i/N),  f = 0 … N/2
//
// With L = (R − 1)·H every signal sample lies in exactly R frames (the first one too), which is what
// lets the overlap-add below reconstruct it exactly. The frames are the ones that overlap at least one
// signal sample: T(n) = R − 1 + ⌈n / H⌉ for n > 0, and T(0) = 0. Frame t is centred on signal
// sample t·H − L + N/2, so X is sample-aligned: frame t first sees signal sample t·H − L.
//
// Reconstruction (weighted overlap-add). Each frame is inverse-transformed (FFTW, unnormalised:
// it returns N·frame), multiplied by the synthesis window and added at its place; a padded sample i
// then holds N · Σ_t w_s[i − tH]·w_a[i − tH] · p[i]. The overlap sum
//
//     ola[j] = Σ_{k=0}^{R−1} w_a[j + kH] · w_s[j + kH],   j = i mod H
//
// is computed from the windows (it is R/2 for sqrtHann at any hop, 3R/8 for Hann at hop ≤ N/3,
// and not constant for Hann at hop N/2, where it is sin⁴ + cos⁴), and the synthesis window is
// stored pre-divided by N · ola[i mod H]: that one place folds in FFTW's 1/N and the overlap sum.
// The L leading padded samples are discarded, so the concatenated output equals x, sample for sample.

/// Settings of the short-time Fourier transform.
public struct STFTConfig: Codable, Equatable, Sendable {
    /// Transform size in samples (512 = 32 ms at 16 kHz).
    public var nFFT = 512
    /// Frame advance in samples (256 = 16 ms at 16 kHz).
    public var hop = 256
    /// Analysis and synthesis window (the same for both).
    public var window = WindowKind.sqrtHann

    /// Complex bins per frame: nFFT / 2 + 1.
    public var bins: Int { nFFT / 2 + 1 }
    /// Frames covering each signal sample: nFFT / hop.
    public var overlap: Int { nFFT / hop }
    /// Zeros that precede the signal so that every sample is covered by `overlap` frames: nFFT − hop.
    var leadingPadding: Int { nFFT - hop }

    public init(nFFT: Int = 512, hop: Int = 256, window: WindowKind = .sqrtHann) {
        self.nFFT = nFFT
        self.hop = hop
        self.window = window
    }

    /// Checks that the framing reconstructs: nFFT positive and even, hop positive, dividing nFFT and
    /// at most nFFT / 2 (so that every sample is seen by at least two frames and the overlap sum is
    /// positive everywhere, even at the zeros of the periodic Hann window).
    public func validate() throws {
        guard nFFT > 0, nFFT % 2 == 0 else { throw STFTError.fftSizeNotPositiveEven(nFFT) }
        guard hop > 0 else { throw STFTError.hopNotPositive(hop) }
        guard nFFT % hop == 0 else { throw STFTError.hopDoesNotDivideFFTSize(hop: hop, nFFT: nFFT) }
        guard hop <= nFFT / 2 else { throw STFTError.hopLargerThanHalfFFTSize(hop: hop, nFFT: nFFT) }
    }

    /// Stops with the validation message: the streaming types cannot work with an invalid config.
    fileprivate func requireValid() {
        do { try validate() } catch { preconditionFailure("invalid STFTConfig: \(error)") }
    }
}

enum STFTError: Error, CustomStringConvertible, Equatable {
    case fftSizeNotPositiveEven(Int)
    case hopNotPositive(Int)
    case hopDoesNotDivideFFTSize(hop: Int, nFFT: Int)
    case hopLargerThanHalfFFTSize(hop: Int, nFFT: Int)

    var description: String {
        switch self {
        case .fftSizeNotPositiveEven(let n):
            return "STFT size must be positive and even, got \(n)"
        case .hopNotPositive(let hop):
            return "STFT hop must be positive, got \(hop)"
        case .hopDoesNotDivideFFTSize(let hop, let n):
            return "STFT hop \(hop) does not divide the FFT size \(n); perfect reconstruction needs hop | nFFT"
        case .hopLargerThanHalfFFTSize(let hop, let n):
            return "STFT hop \(hop) is larger than half the FFT size \(n); frames must overlap by at least half"
        }
    }
}

/// Complex STFT frames, split real/imaginary, each row-major `[frames × bins]`:
/// X[t, f] = real[t·bins + f] + i·imag[t·bins + f].
public struct Spectrogram: Equatable, Sendable {
    public var frames: Int
    public let bins: Int
    public var real: [Float]
    public var imag: [Float]

    /// A zeroed spectrogram of `frames` × `bins`.
    public init(frames: Int, bins: Int) {
        precondition(frames >= 0 && bins > 0,
                     "Spectrogram shape must be frames ≥ 0 × bins > 0, got \(frames)×\(bins)")
        self.frames = frames
        self.bins = bins
        self.real = [Float](repeating: 0, count: frames * bins)
        self.imag = [Float](repeating: 0, count: frames * bins)
    }

    public init(frames: Int, bins: Int, real: [Float], imag: [Float]) {
        precondition(real.count == frames * bins && imag.count == frames * bins,
                     "Spectrogram \(frames)×\(bins) needs \(frames * bins) values per part, "
                         + "got \(real.count) real and \(imag.count) imaginary")
        self.frames = frames
        self.bins = bins
        self.real = real
        self.imag = imag
    }

    /// Makes room for `frames` frames in total, so that appending up to that many allocates nothing.
    mutating func reserveFrames(_ frames: Int) {
        real.reserveCapacity(frames * bins)
        imag.reserveCapacity(frames * bins)
    }

    /// Appends one frame of `bins` values per part.
    mutating func appendFrame(real frameReal: UnsafePointer<Float>, imag frameImag: UnsafePointer<Float>) {
        real.append(contentsOf: UnsafeBufferPointer(start: frameReal, count: bins))
        imag.append(contentsOf: UnsafeBufferPointer(start: frameImag, count: bins))
        frames += 1
    }

    /// Calls `body` with both parts at once, so that per-bin loops index raw buffers (one closure, not two nested).
    func withUnsafeParts<R>(_ body: (UnsafeBufferPointer<Float>, UnsafeBufferPointer<Float>) throws -> R)
        rethrows -> R {
        try real.withUnsafeBufferPointer { re in try imag.withUnsafeBufferPointer { im in try body(re, im) } }
    }

    /// Drops all frames; by default keeps the storage, so a streaming caller can reuse one spectrogram
    /// per chunk without allocating.
    mutating func removeAllFrames(keepingCapacity: Bool = true) {
        real.removeAll(keepingCapacity: keepingCapacity)
        imag.removeAll(keepingCapacity: keepingCapacity)
        frames = 0
    }
}

/// Streaming STFT analysis: push samples in chunks of any size, get each frame as soon as its last
/// sample has arrived (frame t is complete after (t + 1)·hop samples). `finish` pads with zeros and
/// emits the frames that cover the tail; the frames are then exactly `STFT.analyze` of the whole signal.
///
/// Not thread-safe: one analyzer per stream. Allocates nothing per frame (scratch buffers are its own).
final class STFTAnalyzer {
    let config: STFTConfig
    /// Signal samples pushed since creation or the last `reset`.
    private(set) var samplesPushed = 0
    /// Frames appended since creation or the last `reset`.
    private(set) var framesEmitted = 0

    private let nFFT: Int
    private let hop: Int
    private let bins: Int
    private let fft: RealFFT
    /// Analysis window [nFFT].
    private let window: UnsafeMutablePointer<Float>
    /// Padded samples of the frame being filled [nFFT]; `filled` of them are valid.
    private let buffer: UnsafeMutablePointer<Float>
    private var filled: Int
    /// Windowed frame [nFFT].
    private let windowed: UnsafeMutablePointer<Float>
    /// FFT output, interleaved (re, im) [2 · bins].
    private let spectrum: UnsafeMutablePointer<Float>
    /// De-interleaved frame [bins] each.
    private let frameReal: UnsafeMutablePointer<Float>
    private let frameImag: UnsafeMutablePointer<Float>
    private var finished = false

    init(config: STFTConfig) {
        config.requireValid()
        self.config = config
        nFFT = config.nFFT
        hop = config.hop
        bins = config.bins
        fft = RealFFT(size: nFFT)
        window = .allocate(capacity: nFFT)
        let analysis = Window.make(config.window, size: nFFT)
        _ = UnsafeMutableBufferPointer(start: window, count: nFFT).initialize(from: analysis)
        buffer = .allocate(capacity: nFFT)
        buffer.initialize(repeating: 0, count: nFFT)
        filled = config.leadingPadding
        windowed = .allocate(capacity: nFFT)
        windowed.initialize(repeating: 0, count: nFFT)
        spectrum = .allocate(capacity: 2 * bins)
        spectrum.initialize(repeating: 0, count: 2 * bins)
        frameReal = .allocate(capacity: bins)
        frameReal.initialize(repeating: 0, count: bins)
        frameImag = .allocate(capacity: bins)
        frameImag.initialize(repeating: 0, count: bins)
    }

    deinit {
        window.deallocate()
        buffer.deallocate()
        windowed.deallocate()
        spectrum.deallocate()
        frameReal.deallocate()
        frameImag.deallocate()
    }

    /// Appends to `spectrogram` the frames completed by `samples` (possibly none).
    func push(_ samples: UnsafeBufferPointer<Float>, into spectrogram: inout Spectrogram) {
        precondition(!finished, "STFTAnalyzer.push after finish: call reset() to start a new signal")
        precondition(spectrogram.bins == bins, "spectrogram has \(spectrogram.bins) bins, the STFT makes \(bins)")
        guard let source = samples.baseAddress else { return }
        var offset = 0
        while offset < samples.count {
            let take = min(nFFT - filled, samples.count - offset)
            (buffer + filled).update(from: source + offset, count: take)
            filled += take
            offset += take
            if filled == nFFT { emitFrame(into: &spectrogram) }
        }
        samplesPushed += samples.count
    }

    /// Convenience for arrays.
    func push(_ samples: [Float], into spectrogram: inout Spectrogram) {
        samples.withUnsafeBufferPointer { push($0, into: &spectrogram) }
    }

    /// Pads with zeros and appends the remaining frames, up to `STFT.frameCount(forSamples: samplesPushed)`.
    /// The signal is then complete: call `reset()` before pushing another one.
    func finish(into spectrogram: inout Spectrogram) {
        precondition(!finished, "STFTAnalyzer.finish called twice: call reset() to start a new signal")
        precondition(spectrogram.bins == bins, "spectrogram has \(spectrogram.bins) bins, the STFT makes \(bins)")
        let total = STFT.frameCount(forSamples: samplesPushed, config: config)
        while framesEmitted < total {
            (buffer + filled).update(repeating: 0, count: nFFT - filled)
            filled = nFFT
            emitFrame(into: &spectrogram)
        }
        finished = true
    }

    /// Back to the state of a new analyzer (L = nFFT − hop leading zeros, nothing pushed).
    func reset() {
        buffer.update(repeating: 0, count: nFFT)
        filled = config.leadingPadding
        samplesPushed = 0
        framesEmitted = 0
        finished = false
    }

    /// Windows and transforms the full buffer, appends the frame, and slides the buffer by one hop.
    private func emitFrame(into spectrogram: inout Spectrogram) {
        for i in 0..<nFFT { windowed[i] = buffer[i] * window[i] }
        fft.forward(windowed, spectrum)
        for f in 0..<bins {
            frameReal[f] = spectrum[2 * f]
            frameImag[f] = spectrum[2 * f + 1]
        }
        spectrogram.appendFrame(real: frameReal, imag: frameImag)
        // The last nFFT − hop samples start the next frame (regions overlap: memmove).
        memmove(buffer, buffer + hop, (nFFT - hop) * MemoryLayout<Float>.stride)
        filled = nFFT - hop
        framesEmitted += 1
    }
}

/// Streaming inverse STFT by weighted overlap-add: push frames in order, get output samples as they
/// become final; `finish(totalLength:)` emits the rest so that exactly `totalLength` samples come out.
///
/// Latency: a padded sample is final once every frame covering it has been added, i.e. after frame t
/// for the samples of hop block t. The synthesizer holds one final block back and emits it after the
/// next frame, so frames beyond the end of the signal (the zero-padded tail) never push output past
/// `totalLength`: after the T(n) frames of an n-sample signal, (⌈n/H⌉ − 1)·H < n samples are out.
/// Fed frame by frame from an `STFTAnalyzer`, the output lags the input by less than nFFT + hop samples.
///
/// Not thread-safe: one synthesizer per stream. Allocates nothing per frame.
final class STFTSynthesizer {
    let config: STFTConfig
    /// Frames pushed since creation or the last `reset`.
    private(set) var framesPushed = 0
    /// Output samples appended since creation or the last `reset`.
    private(set) var samplesEmitted = 0

    private let nFFT: Int
    private let hop: Int
    private let bins: Int
    private let fft: RealFFT
    /// Synthesis window divided by nFFT · ola[i mod hop] [nFFT] (see the top of this file).
    private let window: UnsafeMutablePointer<Float>
    /// Interleaved (re, im) copy of the frame [2 · bins]; FFTW's c2r overwrites it.
    private let spectrum: UnsafeMutablePointer<Float>
    /// Inverse transform of the frame [nFFT].
    private let frame: UnsafeMutablePointer<Float>
    /// Overlap-add accumulator [nFFT]: partial sums of the padded samples from framesPushed·hop on.
    private let accumulator: UnsafeMutablePointer<Float>
    private var finished = false

    convenience init(config: STFTConfig) {
        config.requireValid()
        self.init(config: config, normalizedWindow: STFTSynthesizer.normalizedSynthesisWindow(config))
    }

    /// With `normalizedWindow`, `normalizedSynthesisWindow(config)` made once by the caller (`STFT` holds it).
    init(config: STFTConfig, normalizedWindow: [Float]) {
        precondition(normalizedWindow.count == config.nFFT, "synthesis window of \(normalizedWindow.count) values "
                     + "for an nFFT of \(config.nFFT)")
        self.config = config
        nFFT = config.nFFT
        hop = config.hop
        bins = config.bins
        fft = RealFFT(size: nFFT)
        window = .allocate(capacity: nFFT)
        _ = UnsafeMutableBufferPointer(start: window, count: nFFT).initialize(from: normalizedWindow)
        spectrum = .allocate(capacity: 2 * bins)
        spectrum.initialize(repeating: 0, count: 2 * bins)
        frame = .allocate(capacity: nFFT)
        frame.initialize(repeating: 0, count: nFFT)
        accumulator = .allocate(capacity: nFFT)
        accumulator.initialize(repeating: 0, count: nFFT)
    }

    deinit {
        window.deallocate()
        spectrum.deallocate()
        frame.deallocate()
        accumulator.deallocate()
    }

    /// w_s[i] / (nFFT · ola[i mod hop]) with ola[j] = Σ_k w_a[j + k·hop] · w_s[j + k·hop], in Double.
    static func normalizedSynthesisWindow(_ config: STFTConfig) -> [Float] {
        let analysis = Window.make(config.window, size: config.nFFT)
        let synthesis = analysis
        var ola = [Double](repeating: 0, count: config.hop)
        for i in 0..<config.nFFT { ola[i % config.hop] += Double(analysis[i]) * Double(synthesis[i]) }
        precondition(ola.allSatisfy { $0 > 0 }, "window overlap sum vanishes; the STFT cannot reconstruct")
        return (0..<config.nFFT).map { i in
            Float(Double(synthesis[i]) / (Double(config.nFFT) * ola[i % config.hop]))
        }
    }

    /// Adds frame t (`bins` complex values) and appends the samples it made final: padded samples
    /// [t·hop, (t + 1)·hop), which no later frame reaches (hop samples, or none while the leading padding is
    /// still being discarded). Emitting them now, not a frame later, keeps the latency at one frame.
    func push(real: UnsafePointer<Float>, imag: UnsafePointer<Float>, into output: inout [Float]) {
        precondition(!finished, "STFTSynthesizer.push after finish: call reset() to start a new signal")
        for f in 0..<bins {
            spectrum[2 * f] = real[f]
            spectrum[2 * f + 1] = imag[f]
        }
        fft.inverse(spectrum, frame)
        // accumulator[i] is padded sample t·hop + i.
        for i in 0..<nFFT { accumulator[i] += frame[i] * window[i] }
        // L is a multiple of hop, so a block is either all leading padding or all signal.
        if framesPushed * hop >= config.leadingPadding {
            output.append(contentsOf: UnsafeBufferPointer(start: accumulator, count: hop))
            samplesEmitted += hop
        }
        memmove(accumulator, accumulator + hop, (nFFT - hop) * MemoryLayout<Float>.stride)
        (accumulator + nFFT - hop).update(repeating: 0, count: hop)
        framesPushed += 1
    }

    /// Convenience: pushes frame `t` of a spectrogram.
    func push(_ spectrogram: Spectrogram, frame t: Int, into output: inout [Float]) {
        precondition(spectrogram.bins == bins, "spectrogram has \(spectrogram.bins) bins, the STFT needs \(bins)")
        precondition(t >= 0 && t < spectrogram.frames, "frame \(t) is outside 0..<\(spectrogram.frames)")
        spectrogram.real.withUnsafeBufferPointer { re in
            spectrogram.imag.withUnsafeBufferPointer { im in
                // Non-empty: t < frames, so the base addresses exist.
                guard let reBase = re.baseAddress, let imBase = im.baseAddress else { return }
                push(real: reBase + t * bins, imag: imBase + t * bins, into: &output)
            }
        }
    }

    /// Appends the remaining samples so that `totalLength` have been emitted in all. Samples that no
    /// pushed frame covered fully are what the pushed frames give (zero if none touched them); with
    /// the `STFT.frameCount(forSamples: totalLength)` frames of the analysis, every sample is final.
    /// The frames that cover the signal's end (the analysis's zero-padded tail) may have emitted samples past
    /// it: those are removed from `output`, so pass the array those frames were pushed into.
    /// The signal is then complete: call `reset()` before pushing another one.
    func finish(totalLength: Int, into output: inout [Float]) {
        precondition(!finished, "STFTSynthesizer.finish called twice: call reset() to start a new signal")
        let excess = samplesEmitted - totalLength
        if excess > 0 {
            precondition(excess <= output.count && excess < nFFT,
                         "totalLength \(totalLength) is less than the \(samplesEmitted) samples already emitted; "
                             + "more frames were pushed than a signal of that length has")
            output.removeLast(excess)
            samplesEmitted = totalLength
        }
        let accumulatorStart = framesPushed * hop  // padded index of accumulator[0]
        output.reserveCapacity(output.count + totalLength - samplesEmitted)
        for m in samplesEmitted..<totalLength {
            let offset = m + config.leadingPadding - accumulatorStart
            output.append(offset < nFFT ? accumulator[offset] : 0)
        }
        samplesEmitted = totalLength
        finished = true
    }

    /// Back to the state of a new synthesizer.
    func reset() {
        accumulator.update(repeating: 0, count: nFFT)
        framesPushed = 0
        samplesEmitted = 0
        finished = false
    }
}

/// Whole-signal STFT and inverse, built on `STFTAnalyzer` and `STFTSynthesizer` so that the streaming
/// and whole-signal paths agree by construction. Holds only its config and the normalised synthesis window,
/// both immutable: one instance may be used from any number of threads at once (each call makes its own
/// analyzer or synthesizer; plans are shared).
public final class STFT: Sendable {
    public let config: STFTConfig
    /// `STFTSynthesizer.normalizedSynthesisWindow(config)`, made once: `synthesize` and `synthesisGradient`
    /// run once per utterance per training step.
    private let synthesisWindow: [Float]

    public init(config: STFTConfig) {
        config.requireValid()
        self.config = config
        synthesisWindow = STFTSynthesizer.normalizedSynthesisWindow(config)
    }

    /// The `frameCount(forSamples: x.count)` frames of `x` (layout and framing at the top of this file).
    public func analyze(_ x: [Float]) -> Spectrogram {
        let analyzer = STFTAnalyzer(config: config)
        var spectrogram = Spectrogram(frames: 0, bins: config.bins)
        spectrogram.reserveFrames(STFT.frameCount(forSamples: x.count, config: config))
        analyzer.push(x, into: &spectrogram)
        analyzer.finish(into: &spectrogram)
        return spectrogram
    }

    /// Exactly `length` samples by weighted overlap-add; `synthesize(analyze(x), length: x.count) == x`
    /// up to rounding. Frames past `frameCount(forSamples: length)` cannot touch the first `length`
    /// samples and are ignored; missing frames leave their samples partial (or zero).
    public func synthesize(_ spectrogram: Spectrogram, length: Int) -> [Float] {
        precondition(length >= 0, "length must be non-negative, got \(length)")
        let synthesizer = STFTSynthesizer(config: config, normalizedWindow: synthesisWindow)
        var output = [Float]()
        output.reserveCapacity(length)
        let frames = min(spectrogram.frames, STFT.frameCount(forSamples: length, config: config))
        for t in 0..<frames { synthesizer.push(spectrogram, frame: t, into: &output) }
        synthesizer.finish(totalLength: length, into: &output)
        return output
    }

    /// The adjoint of `synthesize(_:length:)`: given dL/dy for its `gradient.count` output samples, dL/dRe X and
    /// dL/dIm X for each of `frames` input frames, so that a loss on the waveform trains whatever made the
    /// spectrogram. `synthesize` is linear: padded sample j gets Σ_t v[j − tH] · c2r(X_t)[j − tH] (v the normalised
    /// synthesis window, c2r FFTW's unnormalised inverse, which reads Re X_f · cos − Im X_f · sin, doubled for
    /// 0 < f < N/2, and ignores the imaginary parts of bins 0 and N/2). So, with u_t[i] = v[i] · dL/dp[tH + i],
    ///
    ///     dL/dRe X_t,f + i · dL/dIm X_t,f = c_f · Σ_i u_t[i] · e^(−2πi·f·i/N),   c_f = 1 for f = 0, N/2, else 2:
    ///
    /// a forward FFT of the window-weighted gradient frames (whose imaginary parts at f = 0 and N/2 are zero).
    /// Frames past `frameCount(forSamples: gradient.count)` do not reach the output and get zero gradients.
    func synthesisGradient(_ gradient: [Float], frames: Int) -> Spectrogram {
        let n = config.nFFT, hop = config.hop, bins = config.bins, lead = config.leadingPadding
        let window = synthesisWindow, fft = RealFFT(size: n)
        var result = Spectrogram(frames: frames, bins: bins)
        var frame = [Float](repeating: 0, count: n), spectrum = [Float](repeating: 0, count: 2 * bins)
        for t in 0..<min(frames, STFT.frameCount(forSamples: gradient.count, config: config)) {
            for i in 0..<n {
                let m = t * hop + i - lead  // the output sample padded sample t·hop + i becomes
                frame[i] = m >= 0 && m < gradient.count ? window[i] * gradient[m] : 0
            }
            fft.forward(frame, &spectrum)
            for f in 0..<bins {
                let doubled: Float = f == 0 || f == bins - 1 ? 1 : 2
                result.real[t * bins + f] = doubled * spectrum[2 * f]
                result.imag[t * bins + f] = doubled * spectrum[2 * f + 1]
            }
        }
        return result
    }

    /// T(n) = overlap − 1 + ⌈n / hop⌉ frames for n > 0 (those overlapping at least one sample), 0 for n = 0.
    public static func frameCount(forSamples n: Int, config: STFTConfig) -> Int {
        n <= 0 ? 0 : config.overlap - 1 + (n + config.hop - 1) / config.hop
    }
}
