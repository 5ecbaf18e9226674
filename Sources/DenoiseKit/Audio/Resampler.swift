import Foundation

/// Band-limited sample-rate conversion (windowed sinc, polyphase) between any two positive integer rates.
///
/// The ratio is reduced by the gcd: outputRate / inputRate = L / M. Output sample j lies at time j / outputRate,
/// that is at input position t_j = j·M/L = n_j + p_j/L (n_j = floor(j·M/L), phase p_j = j·M mod L), and
///
///     y[j] = Σ_{i=0}^{2K} c_{p_j}[i] · x[n_j − K + i],     c_p[i] ∝ h(p/L + K − i),
///
/// with x[k] = 0 outside the signal. The kernel, in units of input samples, is
///
///     h(τ) = 2f_c · sinc(2f_c·τ) · I0(β·√(1 − (τ/K)²)) / I0(β)   for |τ| ≤ K, 0 beyond,
///
/// f_c = cutoff / inputRate. h is even, so the filter has zero phase: there is no delay to compensate and output
/// sample j is aligned with time j / outputRate exactly. Each phase's taps are normalised to sum to 1, so every
/// phase has exactly unit gain at DC (no ripple at the phase rate).
///
/// Filter: −6 dB cutoff at 0.95 × the lower of the two Nyquist frequencies, transition band from 0.90 to 1.00 ×
/// that Nyquist (nothing above the output Nyquist folds back), Kaiser window designed for 85 dB stopband
/// attenuation (β = 0.1102·(85 − 8.7); measured ≥ 84 dB), passband ripple below 0.005 dB. The half-width K, in
/// input samples, follows Kaiser's length formula: about 54 input samples when upsampling and 54·M/L when
/// downsampling, so the cost is about 109·max(1, M/L) multiply-adds per output sample.
///
/// Lengths: n input samples give ceil(n·L/M) = ceil(n·outputRate/inputRate) output samples, those whose times
/// lie in [0, n/inputRate), the span of the input.
///
/// Streaming: `process` emits every output sample whose input support has arrived; `finish` emits the rest
/// (the signal is zero past its end) and resets. Each output sample is computed by the same arithmetic in the
/// same order however the input is chunked, so `process(a) + process(b) + finish()` equals `resample(a + b)`
/// bit for bit.
///
/// When L·(2K+1) taps would exceed `maxTableTaps` (rates whose reduced ratio is unusual, like 44100 → 44101), the
/// kernel is tabulated at `kernelOversampling` points per input sample and each output's taps are interpolated
/// linearly from it (error about 1e-6 of the peak, below the stopband), instead of one exact row per phase.
final class Resampler {
    let inputRate: Int
    let outputRate: Int

    /// Reduced ratio: outputRate / inputRate = up / down.
    private let up: Int
    private let down: Int
    /// Kernel half-width K in input samples; each output uses 2K + 1 input samples.
    private let halfWidth: Int
    private var tapCount: Int { 2 * halfWidth + 1 }

    /// Exact taps, `up` rows of `tapCount` (row p is phase p), or empty when the kernel table is used.
    private let phaseTable: [Float]
    /// Kernel h(m / kernelOversampling) for m = 0 ... K·kernelOversampling + 1 (h is even), or empty.
    private let kernelTable: [Double]
    /// One row of taps for the interpolated path, reused for every output sample.
    private var scratchRow: [Float]

    /// Input samples not yet consumed: history[i] = x[historyStart + i] for i < historyCount (x[k] = 0 for k < 0).
    private var history: [Float] = []
    private var historyCount = 0
    private var historyStart = 0
    /// Samples received and output samples emitted since the last reset.
    private var inputCount = 0
    private var outputCount = 0
    /// Position of the next output sample: input index `center` plus `phase`/up.
    private var center = 0
    private var phase = 0

    /// Design stopband attenuation, dB.
    private static let attenuationDB = 85.0
    /// Cutoff and transition band, as fractions of the lower Nyquist frequency.
    private static let cutoffFraction = 0.95
    private static let transitionFraction = 0.10
    /// Above this many phase-table entries (4 MiB of Float), taps are interpolated from a kernel table instead.
    private static let maxTableTaps = 1 << 20
    private static let kernelOversampling = 512

    init(from inputRate: Int, to outputRate: Int) {
        precondition(inputRate > 0 && outputRate > 0, "sample rates must be positive, got \(inputRate) → \(outputRate)")
        self.inputRate = inputRate
        self.outputRate = outputRate
        let divisor = Resampler.gcd(inputRate, outputRate)
        up = outputRate / divisor
        down = inputRate / divisor

        let nyquist = 0.5 * Double(min(inputRate, outputRate))
        let cutoff = Resampler.cutoffFraction * nyquist / Double(inputRate)           // cycles per input sample
        let transition = Resampler.transitionFraction * nyquist / Double(inputRate)
        // Kaiser: taps ≈ (A − 7.95) / (2.285 · 2π · Δf); K must also exceed the input step M/L.
        let taps = (Resampler.attenuationDB - 7.95) / (2.285 * 2 * Double.pi * transition)
        let width = max(Int((taps / 2).rounded(.up)), down / up + 2)
        halfWidth = up == down ? 0 : width
        let beta = 0.1102 * (Resampler.attenuationDB - 8.7)

        if up == down {
            phaseTable = []
            kernelTable = []
            scratchRow = []
        } else if up * (2 * width + 1) <= Resampler.maxTableTaps {
            phaseTable = Resampler.makePhaseTable(up: up, halfWidth: width, cutoff: cutoff, beta: beta)
            kernelTable = []
            scratchRow = []
        } else {
            let oversampling = Resampler.kernelOversampling
            kernelTable = (0...(width * oversampling + 1)).map {
                Resampler.kernel(Double($0) / Double(oversampling), halfWidth: width, cutoff: cutoff, beta: beta)
            }
            phaseTable = []
            scratchRow = [Float](repeating: 0, count: 2 * width + 1)
        }
        reset()
    }

    /// Output length for n input samples: ceil(n · outputRate / inputRate), the number of output sample times
    /// j / outputRate that fall in [0, n / inputRate).
    static func outputLength(forInput n: Int, from: Int, to: Int) -> Int {
        precondition(n >= 0 && from > 0 && to > 0, "invalid length or rates: \(n) samples, \(from) → \(to)")
        let divisor = gcd(from, to)
        let up = to / divisor, down = from / divisor
        return (n * up + down - 1) / down
    }

    /// Output samples `process` has emitted in all once `n` input samples have gone in: those whose input
    /// support (K samples past their centre) has arrived. A function of n alone, however the input was chunked.
    func readyOutputCount(afterInput n: Int) -> Int {
        if up == down { return n }
        let lastCenter = n - 1 - halfWidth
        return lastCenter < 0 ? 0 : ((lastCenter + 1) * up + down - 1) / down
    }

    /// Resamples `input`, continuing the stream from the previous calls. Returns the output samples whose input
    /// support is complete (about K input samples of latency); allocates only the result and, when a chunk is
    /// larger than any before, a bigger history buffer.
    func process(_ input: [Float]) -> [Float] {
        if up == down { return input }
        input.withUnsafeBufferPointer { append($0) }
        inputCount += input.count
        // Output j can be computed once x[n_j + K] has arrived: n_j ≤ inputCount − 1 − K.
        let result = emit(count: max(0, readyOutputCount(afterInput: inputCount) - outputCount))
        discardConsumed()
        return result
    }

    /// Allocation-free form of `process` for real-time callers: resamples `input` and writes the ready output to
    /// the start of `output`, returning how many samples that is (at most ⌈count·outputRate/inputRate⌉ + 1, which
    /// `output` must have room for). Allocates nothing once `reserve(chunk:)` has been called for the largest
    /// chunk.
    func process(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>) -> Int {
        if up == down {
            precondition(output.count >= input.count,
                         "Resampler: room for \(output.count) samples, \(input.count) ready")
            guard let source = input.baseAddress, let target = output.baseAddress else { return 0 }
            target.update(from: source, count: input.count)
            return input.count
        }
        append(input)
        inputCount += input.count
        let count = max(0, readyOutputCount(afterInput: inputCount) - outputCount)
        emit(count: count, into: output)
        discardConsumed()
        return count
    }

    /// Makes room for input chunks of up to `chunk` samples, so that `process` never grows its history.
    func reserve(chunk: Int) {
        // What is kept between calls: the 2K + 1 samples of the next output's support, plus up to one input step.
        reserveHistory(2 * halfWidth + 2 + down / up + chunk)
    }

    /// Emits the remaining output samples (the input is taken as zero past its end) and resets the resampler
    /// for a new stream. After `process` calls on a signal of n samples, the total output is ceil(n·L/M).
    func finish() -> [Float] {
        if up == down { return [] }
        append(zeros: halfWidth)
        let total = Resampler.outputLength(forInput: inputCount, from: inputRate, to: outputRate)
        let result = emit(count: total - outputCount)
        reset()
        return result
    }

    /// Forgets the stream: the next sample given to `process` is at time 0.
    func reset() {
        if history.count < halfWidth { history = [Float](repeating: 0, count: max(halfWidth, 1)) }
        for i in 0..<halfWidth { history[i] = 0 }
        historyCount = halfWidth
        historyStart = -halfWidth
        inputCount = 0
        outputCount = 0
        center = 0
        phase = 0
    }

    /// The whole signal resampled, `outputLength(forInput: x.count, ...)` samples; a copy when the rates are equal.
    static func resample(_ x: [Float], from: Int, to: Int) -> [Float] {
        if from == to { return x }
        let resampler = Resampler(from: from, to: to)
        var y = resampler.process(x)
        y.append(contentsOf: resampler.finish())
        return y
    }

    /// Every channel resampled to `rate`.
    static func resample(_ buffer: AudioBuffer, to rate: Int) -> AudioBuffer {
        if buffer.sampleRate == rate { return buffer }
        let resampler = Resampler(from: buffer.sampleRate, to: rate)
        let channels = buffer.channels.map { channel -> [Float] in
            var y = resampler.process(channel)
            y.append(contentsOf: resampler.finish())
            return y
        }
        return AudioBuffer(channels: channels, sampleRate: rate)
    }

    // MARK: - Streaming internals

    private func reserveHistory(_ extra: Int) {
        let needed = historyCount + extra
        if needed > history.count {
            var grown = [Float](repeating: 0, count: max(needed, 2 * history.count))
            grown.withUnsafeMutableBufferPointer { dst in
                history.withUnsafeBufferPointer { src in
                    guard let source = src.baseAddress, let target = dst.baseAddress else { return }
                    target.update(from: source, count: historyCount)
                }
            }
            history = grown
        }
    }

    private func append(_ input: UnsafeBufferPointer<Float>) {
        reserveHistory(input.count)
        history.withUnsafeMutableBufferPointer { dst in
            guard let source = input.baseAddress, let target = dst.baseAddress else { return }
            (target + historyCount).update(from: source, count: input.count)
        }
        historyCount += input.count
    }

    private func append(zeros count: Int) {
        reserveHistory(count)
        for i in historyCount..<(historyCount + count) { history[i] = 0 }
        historyCount += count
    }

    /// Drops the samples below n − K for the next output's n: they are no longer needed.
    private func discardConsumed() {
        let drop = min(center - halfWidth - historyStart, historyCount)
        guard drop > 0 else { return }
        let kept = historyCount - drop
        history.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            base.update(from: base + drop, count: kept)     // memmove semantics: regions may overlap
        }
        historyCount = kept
        historyStart += drop
    }

    /// Computes the next `count` output samples from the history; the caller guarantees their support is there.
    private func emit(count: Int) -> [Float] {
        guard count > 0 else { return [] }
        let result = [Float](unsafeUninitializedCapacity: count) { output, initialized in
            emit(count: count, into: output)
            initialized = count
        }
        return result
    }

    /// `emit(count:)` into the first `count` places of `output`.
    private func emit(count: Int, into output: UnsafeMutableBufferPointer<Float>) {
        precondition(output.count >= count, "Resampler: room for \(output.count) samples, \(count) ready")
        let taps = tapCount
        history.withUnsafeBufferPointer { historyBuffer in
            phaseTable.withUnsafeBufferPointer { table in
                guard let samples = historyBuffer.baseAddress else { return }
                for j in 0..<count {
                    let window = samples + (center - halfWidth - historyStart)
                    // An empty array's baseAddress may be non-nil: test the count, not the pointer.
                    if table.count > 0, let rows = table.baseAddress {
                        output[j] = Resampler.dot(rows + phase * taps, window, taps)
                    } else {
                        output[j] = interpolatedOutput(window)
                    }
                    phase += down
                    center += phase / up
                    phase %= up
                }
            }
        }
        outputCount += count
    }

    /// One output sample on the interpolated-kernel path: taps for the current phase, normalised, then the dot.
    private func interpolatedOutput(_ window: UnsafePointer<Float>) -> Float {
        let taps = tapCount
        let oversampling = Double(Resampler.kernelOversampling)
        let fraction = Double(phase) / Double(up)
        return kernelTable.withUnsafeBufferPointer { kernel in
            scratchRow.withUnsafeMutableBufferPointer { row in
                var sum = 0.0
                for i in 0..<taps {
                    let position = abs(fraction + Double(halfWidth - i)) * oversampling
                    let index = Int(position)
                    var value = 0.0
                    if index + 1 < kernel.count {
                        let weight = position - Double(index)
                        value = kernel[index] + weight * (kernel[index + 1] - kernel[index])
                    }
                    row[i] = Float(value)
                    sum += value
                }
                let scale = Float(1 / sum)
                for i in 0..<taps { row[i] *= scale }
                guard let rowBase = row.baseAddress else { return 0 }
                return Resampler.dot(UnsafePointer(rowBase), window, taps)
            }
        }
    }

    /// Σ a[i]·b[i] with four independent accumulators, in a fixed order (so results never depend on chunking).
    @inline(__always)
    private static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
        var i = 0
        while i + 4 <= n {
            s0 += a[i] * b[i]
            s1 += a[i + 1] * b[i + 1]
            s2 += a[i + 2] * b[i + 2]
            s3 += a[i + 3] * b[i + 3]
            i += 4
        }
        while i < n {
            s0 += a[i] * b[i]
            i += 1
        }
        return (s0 + s1) + (s2 + s3)
    }

    // MARK: - Filter design

    /// `up` rows of 2K + 1 taps; row p holds h(p/up + K − i), i = 0 ... 2K, normalised to sum 1.
    private static func makePhaseTable(up: Int, halfWidth: Int, cutoff: Double, beta: Double) -> [Float] {
        let taps = 2 * halfWidth + 1
        var table = [Float](repeating: 0, count: up * taps)
        var row = [Double](repeating: 0, count: taps)
        for p in 0..<up {
            let fraction = Double(p) / Double(up)
            var sum = 0.0
            for i in 0..<taps {
                row[i] = kernel(fraction + Double(halfWidth - i), halfWidth: halfWidth, cutoff: cutoff, beta: beta)
                sum += row[i]
            }
            for i in 0..<taps { table[p * taps + i] = Float(row[i] / sum) }
        }
        return table
    }

    /// h(τ) = 2f_c·sinc(2f_c·τ)·kaiser(τ/K), zero for |τ| > K.
    private static func kernel(_ tau: Double, halfWidth: Int, cutoff: Double, beta: Double) -> Double {
        let x = tau / Double(halfWidth)
        if abs(x) > 1 { return 0 }
        let window = besselI0(beta * (1 - x * x).squareRoot()) / besselI0(beta)
        let arg = 2 * cutoff * tau
        let sinc = arg == 0 ? 1 : sin(Double.pi * arg) / (Double.pi * arg)
        return 2 * cutoff * sinc * window
    }

    /// Modified Bessel function of the first kind, order 0: Σ ((x/2)^k / k!)², summed to double precision.
    private static func besselI0(_ x: Double) -> Double {
        var sum = 1.0, term = 1.0, k = 1.0
        let half = x / 2
        repeat {
            term *= (half / k) * (half / k)
            sum += term
            k += 1
        } while term > sum * 1e-17
        return sum
    }

    private static func gcd(_ a: Int, _ b: Int) -> Int {
        var (a, b) = (a, b)
        while b != 0 { (a, b) = (b, a % b) }
        return a
    }
}
