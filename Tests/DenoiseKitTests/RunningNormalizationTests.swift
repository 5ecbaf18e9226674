import XCTest
@testable import DenoiseKit

/// The running (causal, per-utterance) input normalisation: the normaliser, its affine, and the three paths that
/// run a network with it (whole utterances, the denoiser's windows, frame-by-frame streams).
final class RunningNormalizationTests: XCTestCase {
    /// Frames this far apart give α = 1 − exp(−t / 1 s) = 1/4.
    private let quarterFrameSeconds = -log(0.75)

    /// `frames` [frames][bins] through a fresh normaliser.
    private func normalized(_ frames: [[Float]], frameSeconds: Double) -> [[Float]] {
        let bins = frames[0].count
        let normalizer = RunningNormalizer(bins: bins, frameSeconds: frameSeconds)
        return frames.map { x in
            var y = [Float](repeating: 0, count: bins)
            x.withUnsafeBufferPointer { x in
                y.withUnsafeMutableBufferPointer { normalizer.normalize(x.baseAddress!, into: $0.baseAddress!) }
            }
            return y
        }
    }

    // MARK: The normaliser

    /// Bin 0: 1, 3, 0, 4, 4 with α = 1/4. Frames 0–3 (1/(t+1) ≥ α) take the plain mean and biased variance of the
    /// frames so far: μ = 1, 2, 4/3, 2 and σ² = 0, 1, 14/9, 5/2; frame 4 forgets: δ = 2, μ = 2 + δ/4 = 2.5,
    /// σ² = 3/4 · (5/2 + δ²/4) = 2.625. y = (x − μ)/√(σ² + 0.01). Bin 1 is constant: 0 throughout.
    func testGoldenValuesOnAHandComputedSequence() {
        let x: [[Float]] = [[1, 7], [3, 7], [0, 7], [4, 7], [4, 7]]
        let y = normalized(x, frameSeconds: quarterFrameSeconds)
        let expected: [Float] = [0, 0.995037, -1.065625, 1.262389, 0.924062]
        for t in 0..<5 {
            XCTAssertEqual(y[t][0], expected[t], accuracy: 1e-5, "frame \(t)")
            XCTAssertEqual(y[t][1], 0, "frame \(t): a steady bin")
        }
    }

    func testTheTimeConstantIsOneSecondOfFrames() {
        let normalizer = RunningNormalizer(bins: 1, frameSeconds: 0.016)
        XCTAssertEqual(RunningNormalizer.timeConstantSeconds, 1)
        XCTAssertEqual(Double(normalizer.alpha), 1 - exp(-0.016), accuracy: 1e-7)
        XCTAssertEqual(Double(RunningNormalizer(bins: 1, frameSeconds: quarterFrameSeconds).alpha), 0.25,
                       accuracy: 1e-7)
    }

    /// While 1/(t + 1) ≥ α (62 frames of 16 ms) the statistics are those of all frames so far (Double reference).
    func testWarmUpUsesTheMeanAndVarianceOfTheFramesSoFar() {
        var rng = RandomGenerator(seed: 4)
        let x = (0..<40).map { _ in (0..<9).map { _ in -8 + 3 * rng.normal() } }
        let y = normalized(x, frameSeconds: 0.016)
        for t in 0..<40 {
            for b in 0..<9 {
                let seen = x[...t].map { Double($0[b]) }
                let mean = seen.reduce(0, +) / Double(seen.count)
                let variance = seen.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(seen.count)
                let reference = (Double(x[t][b]) - mean) / (variance + Double(RunningNormalizer.epsilon)).squareRoot()
                XCTAssertEqual(Double(y[t][b]), reference, accuracy: 1e-4, "frame \(t), bin \(b)")
            }
        }
    }

    func testOutputAtAFrameIgnoresLaterFrames() {
        var rng = RandomGenerator(seed: 5)
        let x = (0..<30).map { _ in (0..<5).map { _ in -8 + 3 * rng.normal() } }
        let y = normalized(x, frameSeconds: 0.016)
        for t in [0, 7, 28] {
            var changed = x
            for s in (t + 1)..<30 { changed[s] = changed[s].map { $0 + 5 * rng.normal() } }
            let z = normalized(changed, frameSeconds: 0.016)
            XCTAssertEqual(Array(z[...t]), Array(y[...t]), "frames up to \(t)")
            XCTAssertNotEqual(z[t + 1], y[t + 1])
        }
    }

    func testResetStartsANewUtterance() {
        let normalizer = RunningNormalizer(bins: 3, frameSeconds: 0.016)
        var y = [Float](repeating: 0, count: 6)
        let x: [Float] = [1, 2, 3, -4, 0, 9]
        normalizer.normalizeUtterance(x, frames: 2, into: &y)
        let first = y
        normalizer.normalizeUtterance(x, frames: 2, into: &y)
        XCTAssertEqual(y, first)
        XCTAssertEqual(Array(y[..<3]), [0, 0, 0])
    }

    // MARK: The affine

    func testChannelAffineGradientCheck() {
        var rng = RandomGenerator(seed: 1)
        let store = ParameterStore()
        let layout = SequenceBatch(frames: 4, lengths: [4, 2])
        let affine = ChannelAffine(5, store: store, name: "in")
        XCTAssertEqual(store.entry(named: "in.weight")?.decays, false, "no weight decay on the gain")
        XCTAssertEqual(store.entry(named: "in.bias")?.decays, false, "nor on the shift")
        XCTAssertEqual(Array(store.valueBuffer), [1, 1, 1, 1, 1, 0, 0, 0, 0, 0])
        randomizeAffine(store, &rng)
        checkLayer(affine, store: store, input: randomMatrix(layout.rows, 5, &rng, scale: 2), layout: layout,
                   reference: { x, p in
                       let g = p["in.weight"]!, b = p["in.bias"]!
                       var y = [Double](repeating: 0, count: layout.rows * 5)
                       for r in 0..<layout.rows where layout.isReal(row: r) {
                           for c in 0..<5 { y[r * 5 + c] = x[r * 5 + c] * g[c] + b[c] }
                       }
                       return y
                   })
    }

    func testChannelAffineIgnoresPaddedFrames() {
        checkPaddingInvariance(features: 5) {
            var rng = RandomGenerator(seed: 3)
            let store = ParameterStore()
            let affine = ChannelAffine(5, store: store, name: "in")
            randomizeAffine(store, &rng)
            return (affine, store)
        }
    }

    // MARK: Networks with the running input norm




    /// A causal network's mask at a frame does not change when later frames do.
    func testCausalNetworkMaskIgnoresLaterFrames() throws {
        let net = try TestSignals.randomizedModel(.cnn, causal: true, inputNorm: .running).net
        let x = TestSignals.logPowers(frames: 40, bins: net.config.bins, seed: 6)
        let before = net.forward(x, layout: .single(frames: 40), training: false).array
        let cut = 25, bins = net.config.bins
        for i in (cut + 1) * bins ..< x.count { x.data[i] += 4 }
        let after = net.forward(x, layout: .single(frames: 40), training: false).array
        XCTAssertEqual(Array(after[..<((cut + 1) * bins)]), Array(before[..<((cut + 1) * bins)]))
        XCTAssertNotEqual(Array(after[((cut + 1) * bins)...]), Array(before[((cut + 1) * bins)...]))
    }

    /// Each sequence of a padded batch starts its own state at its first frame: its mask is the one it gets alone,
    /// whatever the other sequences and the padding hold.
    func testEachSequenceOfABatchIsNormalisedOnItsOwn() throws {
        for (kind, causal) in [(MaskNetKind.mlp, false), (.cnn, false), (.cnn, true)] {
            let net = try TestSignals.randomizedModel(kind, causal: causal, inputNorm: .running).net
            let bins = net.config.bins
            let short = TestSignals.logPowers(frames: 9, bins: bins, seed: 7)
            let long = TestSignals.logPowers(frames: 20, bins: bins, seed: 8)
            let shortAlone = net.forward(short, layout: .single(frames: 9), training: false).array
            let longAlone = net.forward(long, layout: .single(frames: 20), training: false).array
            let layout = SequenceBatch(frames: 20, lengths: [9, 20])
            let batch = Matrix(rows: layout.rows, cols: bins)
            batch.fill(paddingGarbage)
            batch.row(0).update(from: short.data, count: short.count)
            batch.row(20).update(from: long.data, count: long.count)
            let mask = net.forward(batch, layout: layout, training: false).array
            XCTAssertLessThan(TestSignals.maxDifference(mask[..<(9 * bins)], shortAlone[...]), 1e-5,
                              "\(kind) causal \(causal)")
            XCTAssertLessThan(TestSignals.maxDifference(mask[(20 * bins)...], longAlone[...]), 1e-5,
                              "\(kind) causal \(causal)")
            XCTAssertTrue(mask[(9 * bins) ..< (20 * bins)].allSatisfy { $0 == 0 }, "padding rows are zero")
        }
    }

    /// The whole network against central finite differences of the spectral loss, through the affine.
    func testMaskNetGradientCheckThroughTheRunningInputNorm() throws {
        for (kind, causal) in [(MaskNetKind.mlp, false), (.cnn, false), (.cnn, true)] {
            let model = try TestSignals.randomizedModel(kind, causal: causal, inputNorm: .running, seed: 5)
            checkMaskNetGradients(model, featureOffset: 0, training: false, "\(kind) causal \(causal)")
        }
    }

    // MARK: The three paths

    /// Whole utterance, the denoiser's windows (several, each with history and look-ahead frames seen twice) and
    /// frame-by-frame steps give the same output: the state runs on across windows and takes each frame once.
    func testWholeUtteranceWindowedAndSteppedPathsAgree() throws {
        for (kind, causal) in [(MaskNetKind.mlp, false), (.cnn, false), (.cnn, true)] {
            let model = try TestSignals.randomizedModel(kind, causal: causal, inputNorm: .running)
            TestSignals.checkDenoiserPathsMatchWholeUtterance(model, "\(kind) causal \(causal)")
        }
    }

    /// `MaskNetStream` stepping gives `MaskNet.forward`'s masks, and starts over after a reset.
    func testStreamStepsGiveTheWholeUtteranceMasks() throws {
        let net = try TestSignals.randomizedModel(.cnn, causal: true, inputNorm: .running).net
        let features = TestSignals.logPowers(frames: 50, bins: net.config.bins, seed: 12)
        try TestSignals.checkStreamMatchesForward(net, features: features,
                                                  "running input norm")
    }

    // MARK: The model file

    func testModelsWithTheRunningInputNormAreANewFormatAndRoundTrip() throws {
        let model = try TestSignals.randomizedModel(.cnn, causal: true, inputNorm: .running)
        XCTAssertEqual(model.formatVersion, "denoise-model-5")
        XCTAssertFalse(DenoiseModel.formatVersions.prefix(4).contains(model.formatVersion), "older builds refuse it")
        let file = model.safeTensors()
        XCTAssertTrue(file.metadata["masknet"]?.contains(#""inputNorm":"running""#) ?? false)
        XCTAssertNil(file.tensors["input_norm.running_mean"], "no corpus statistics are stored")
        let loaded = try DenoiseModel(safeTensors: file, path: "m")
        XCTAssertEqual(loaded.net.config, model.net.config)
        XCTAssertEqual(loaded.net.frameSeconds, model.net.frameSeconds)
        let x = TestSignals.logPowers(frames: 30, bins: model.net.config.bins, seed: 13)
        XCTAssertEqual(loaded.net.forward(x, layout: .single(frames: 30), training: false).array,
                       model.net.forward(x, layout: .single(frames: 30), training: false).array)
        // Without it, models are written as before.
        XCTAssertEqual(try TestSignals.tinyModel(.cnn, inputNorm: .layer).formatVersion, "denoise-model-1")
        XCTAssertEqual(try TestSignals.tinyModel(.cnn).formatVersion, "denoise-model-1")
    }

    func testTheHiddenLayersCannotUseTheRunningNorm() {
        XCTAssertNil(NormKind(rawValue: "running"))
        XCTAssertEqual(InputNormKind(rawValue: "running"), .running)
    }
}

