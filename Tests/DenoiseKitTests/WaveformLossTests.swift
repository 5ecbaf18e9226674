import XCTest
@testable import DenoiseKit

// The waveform (SI-SDR) term: the synthesis adjoint it rests on, its value against the SI-SDR that `eval` measures,
// a finite-difference gradient check with padding, silent references, and its place in training.

final class WaveformLossTests: XCTestCase {
    /// A small transform, so that the gradient check perturbs every mask value of a few frames.
    private let small = STFTConfig(nFFT: 16, hop: 4)

    private func randomSignal(_ count: Int, _ rng: inout RandomGenerator) -> [Float] {
        (0..<count).map { _ in rng.uniform(-1, 1) }
    }

    /// ⟨synthesize(Y), g⟩ = ⟨Y, synthesisGradient(g)⟩ over real and imaginary parts, for any Y and g: the
    /// gradient is the synthesis's adjoint. Frames past those that reach the output get zero gradients.
    func testSynthesisGradientIsTheAdjointOfSynthesis() {
        var rng = RandomGenerator(seed: 11)
        for config in [small, STFTConfig(nFFT: 16, hop: 8), STFTConfig()] {
            let stft = STFT(config: config)
            for length in [1, 37, 3 * config.nFFT] {
                let frames = STFT.frameCount(forSamples: length, config: config) + 2
                let count = frames * config.bins
                let spectrum = Spectrogram(frames: frames, bins: config.bins, real: randomSignal(count, &rng),
                                           imag: randomSignal(count, &rng))
                let g = randomSignal(length, &rng)
                let y = stft.synthesize(spectrum, length: length)
                let adjoint = stft.synthesisGradient(g, frames: frames)
                let lhs = zip(y, g).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
                var rhs = 0.0
                for k in 0..<count {
                    rhs += Double(spectrum.real[k]) * Double(adjoint.real[k])
                    rhs += Double(spectrum.imag[k]) * Double(adjoint.imag[k])
                }
                XCTAssertEqual(lhs, rhs, accuracy: 1e-4 * max(1, abs(lhs)), "nFFT \(config.nFFT) length \(length)")
                let reached = STFT.frameCount(forSamples: length, config: config) * config.bins
                XCTAssertTrue(adjoint.real[reached...].allSatisfy { $0 == 0 })
                XCTAssertTrue(adjoint.imag[reached...].allSatisfy { $0 == 0 })
            }
        }
    }

    /// Two utterances of a batch, laid out as training lays them out: noisy spectra and clean samples.
    private struct Example {
        let layout: SequenceBatch
        let noisyReal: Matrix
        let noisyImag: Matrix
        let clean: [[Float]]
        let mask: Matrix
    }

    private func example(_ pairs: [(noisy: [Float], clean: [Float])], stft: STFT, seed: UInt64) -> Example {
        let batch = SpectralBatch()
        batch.fill(pairs: pairs, stft: stft, waveform: true)
        var rng = RandomGenerator(seed: seed)
        let mask = Matrix(rows: batch.layout.rows, cols: stft.config.bins,
                          values: (0..<(batch.layout.rows * stft.config.bins)).map { _ in rng.uniform(0.2, 1) })
        return Example(layout: batch.layout, noisyReal: batch.noisyReal, noisyImag: batch.noisyImag,
                       clean: batch.clean, mask: mask)
    }

    private func loss(_ e: Example, stft: STFT, weight: Float = 1, gradient: Matrix? = nil) -> (Float, Matrix) {
        let g = gradient ?? Matrix(rows: e.mask.rows, cols: e.mask.cols,
                                   values: [Float](repeating: 0, count: e.mask.count))
        let value = Loss.waveformSISDR(mask: e.mask, noisyReal: e.noisyReal, noisyImag: e.noisyImag, clean: e.clean,
                                       layout: e.layout, stft: stft, weight: weight, gradient: g)
        return (value, g)
    }

    /// The value is minus the mean SI-SDR that `SignalMetrics` gives the masked, resynthesised utterances.
    func testValueIsMinusTheMeanSISDROfTheMaskedAudio() {
        let stft = STFT(config: STFTConfig())
        let pairs = [(0.5, 1), (0.3, 2)].map { seconds, seed -> (noisy: [Float], clean: [Float]) in
            let s = TestSignals.speechLike(seconds: seconds, seed: UInt64(seed))
            let n = TestSignals.whiteNoise(count: s.count, level: 0.3, seed: UInt64(seed + 10))
            return (zip(s, n).map { $0 + $1 }, s)
        }
        let e = example(pairs, stft: stft, seed: 3)
        var expected = 0.0
        for (b, pair) in pairs.enumerated() {
            let rows = e.layout.realRows(of: b), bins = stft.config.bins
            var masked = stft.analyze(pair.noisy)
            for (t, row) in rows.enumerated() {
                for f in 0..<bins {
                    masked.real[t * bins + f] *= e.mask[row, f]
                    masked.imag[t * bins + f] *= e.mask[row, f]
                }
            }
            let enhanced = stft.synthesize(masked, length: pair.clean.count)
            expected += SignalMetrics.siSDR(reference: pair.clean, estimate: enhanced) / 2
        }
        let (value, _) = loss(e, stft: stft)
        XCTAssertGreaterThan(abs(expected), 1)
        XCTAssertEqual(Double(value), -expected, accuracy: 1e-3)
        // A mask of ones gives back the noisy signal: minus its SI-SDR.
        e.mask.fill(1)
        let noisyMean = pairs.map { SignalMetrics.siSDR(reference: $0.clean, estimate: $0.noisy) }.reduce(0, +) / 2
        XCTAssertEqual(Double(loss(e, stft: stft).0), -noisyMean, accuracy: 1e-3)
    }

    func testGradientCheck() {
        // Two utterances of 40 and 27 samples (13 and 10 frames, so three padding rows), a 16-point transform.
        let stft = STFT(config: small)
        var rng = RandomGenerator(seed: 21)
        let pairs = [40, 27].map { n -> (noisy: [Float], clean: [Float]) in
            let clean = randomSignal(n, &rng)
            return (zip(clean, randomSignal(n, &rng)).map { $0 + 0.7 * $1 }, clean)
        }
        let e = example(pairs, stft: stft, seed: 22)
        fillPaddingRows(e.mask, e.layout, with: paddingGarbage)
        fillPaddingRows(e.noisyReal, e.layout, with: paddingGarbage)
        fillPaddingRows(e.noisyImag, e.layout, with: paddingGarbage)
        let (_, analytic) = loss(e, stft: stft)
        let tolerance = Tolerance(absolute: 3e-3, relative: 2e-2), h: Float = 1e-3
        var checked = 0, moving = 0
        for row in 0..<e.layout.rows {
            for bin in 0..<small.bins {
                let g = Double(analytic[row, bin])
                guard e.layout.isReal(row: row) else {
                    XCTAssertEqual(g, 0, "padding row \(row) cannot move the loss")
                    continue
                }
                let m = e.mask[row, bin]
                e.mask[row, bin] = m + h
                let plus = loss(e, stft: stft).0
                e.mask[row, bin] = m - h
                let minus = loss(e, stft: stft).0
                e.mask[row, bin] = m
                let numeric = Double(plus - minus) / Double(2 * h)
                XCTAssertTrue(tolerance.accepts(g, numeric), "row \(row) bin \(bin): analytic \(g), numeric \(numeric)")
                checked += 1
                if abs(g) > 0.01 { moving += 1 }
            }
        }
        XCTAssertEqual(checked, (13 + 10) * small.bins)
        XCTAssertGreaterThan(moving, checked / 2)
    }

    /// An utterance whose clean side is silent has no SI-SDR: it is left out of the mean and gets no gradient.
    /// The gradient is weighted and added to what the gradient already holds.
    func testSilentReferencesAreLeftOutAndTheGradientIsWeightedAndAdded() {
        let stft = STFT(config: small)
        var rng = RandomGenerator(seed: 31)
        let speech = randomSignal(32, &rng), noise = randomSignal(32, &rng)
        let voiced = (noisy: zip(speech, noise).map { $0 + $1 }, clean: speech)
        let silent = (noisy: noise, clean: [Float](repeating: 0, count: 32))
        let both = example([voiced, silent], stft: stft, seed: 32)
        let alone = example([voiced], stft: stft, seed: 32)
        for row in alone.layout.realRows(of: 0) {
            for f in 0..<small.bins { alone.mask[row, f] = both.mask[row, f] }
        }
        let (bothValue, bothGradient) = loss(both, stft: stft)
        let (aloneValue, aloneGradient) = loss(alone, stft: stft)
        XCTAssertEqual(bothValue, aloneValue, accuracy: 1e-5)
        for row in both.layout.realRows(of: 1) {
            for f in 0..<small.bins { XCTAssertEqual(bothGradient[row, f], 0) }
        }
        let start = Matrix(rows: alone.mask.rows, cols: alone.mask.cols,
                           values: [Float](repeating: 1, count: alone.mask.count))
        let (weighted, added) = loss(alone, stft: stft, weight: 0.25, gradient: start)
        XCTAssertEqual(weighted, 0.25 * aloneValue, accuracy: 1e-5)
        XCTAssertTrue(aloneGradient.array.contains { abs($0) > 1e-3 })
        for (a, g) in zip(added.array, aloneGradient.array) { XCTAssertEqual(a, 1 + 0.25 * g, accuracy: 1e-5) }
        // A batch of silence alone has no term at all.
        let (none, noGradient) = loss(example([silent], stft: stft, seed: 33), stft: stft)
        XCTAssertEqual(none, 0)
        XCTAssertTrue(noGradient.array.allSatisfy { $0 == 0 })
    }
}
