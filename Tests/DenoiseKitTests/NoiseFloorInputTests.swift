import XCTest
@testable import DenoiseKit

/// The noise-floor input (`MaskNetConfig.floorBands`): the tracker, the network and paths that read it, and growing
/// a trained model by it.
final class NoiseFloorInputTests: XCTestCase {
    // MARK: The tracker

    /// Tracks `frames` (one array of bands each) from a fresh state.
    private func tracked(_ frames: [[Float]], frameSeconds: Double,
                         windowSeconds: Double = NoiseFloorTracker.defaultWindowSeconds) -> [[Float]] {
        let tracker = NoiseFloorTracker(bands: frames[0].count, frameSeconds: frameSeconds,
                                        windowSeconds: windowSeconds)
        return frames.map { x in
            var y = x
            tracker.track(x, into: &y)
            return y
        }
    }

    private func assertClose(_ a: [[Float]], _ b: [[Float]], _ tolerance: Float, _ label: String = "",
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, label, file: file, line: line)
        for (t, (x, y)) in zip(a, b).enumerated() {
            XCTAssertLessThan(TestSignals.maxDifference(x[...], y[...]), tolerance, "\(label) frame \(t): \(x) vs \(y)",
                              file: file, line: line)
        }
    }

    /// At 16 ms frames the window is 94 frames (1.5 s) and a new frame weighs 1 − exp(−0.016 / 0.05) = 0.2739.
    /// A 3 s window is 188 frames.
    func testWindowAndSmoothingFollowTheFrameTime() {
        let tracker = NoiseFloorTracker(bands: 4, frameSeconds: 0.016)
        XCTAssertEqual(tracker.windowFrames, 94)
        XCTAssertEqual(tracker.beta, 0.273_85, accuracy: 1e-5)
        XCTAssertEqual(NoiseFloorTracker(bands: 4, frameSeconds: 0.5).windowFrames, 3)
        XCTAssertEqual(NoiseFloorTracker(bands: 4, frameSeconds: 0.016, windowSeconds: 3).windowFrames, 188)
    }

    /// By hand with β = 1/2 (frame time 0.05 · ln 2 s), before the window fills. Band 0, x = 8, 0, 0, 8, 4:
    /// s = 8, 4, 2, 5, 4.5, the floor (least s so far) 8, 4, 2, 2, 2, so y = (x − floor) / 4 = 0, −1, −0.5, 1.5, 0.5.
    /// Band 1, x = −2, −2, 6, 6, 6: s = −2, −2, 2, 4, 5, floor −2 throughout, y = 0, 0, 2, 2, 2.
    func testGoldenValuesWithHalfWeightSmoothing() {
        let x: [[Float]] = [[8, -2], [0, -2], [0, 6], [8, 6], [4, 6]]
        let expected: [[Float]] = [[0, 0], [-1, 0], [-0.5, 2], [1.5, 2], [0.5, 2]]
        assertClose(tracked(x, frameSeconds: 0.05 * log(2.0)), expected, 1e-5)
    }

    /// The floor is the least smoothed level of the last W frames only: with W = 3 (0.5 s frames, smoothing all but
    /// complete) a level that rises stays above the floor for two frames, then becomes the floor.
    func testTheFloorForgetsLevelsOlderThanTheWindow() {
        let x: [[Float]] = [0, 4, 4, 4, 8, 8, 8].map { [$0] }
        let expected: [[Float]] = [0, 1, 1, 0, 1, 1, 0].map { [$0] }
        assertClose(tracked(x, frameSeconds: 0.5), expected, 1e-3)
        // A 2.5 s window (W = 5) holds the first level for four frames after it.
        let longer: [[Float]] = [0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0].map { [$0] }
        assertClose(tracked([0, 4, 4, 4, 4, 4, 8, 8, 8, 8, 8].map { [$0] }, frameSeconds: 0.5, windowSeconds: 2.5),
                    longer, 1e-3)
    }

    /// Speech-like bursts 20 dB (4.6 nepers) above a steady level, 0.6 s on and 0.3 s off at 16 ms frames: the gaps
    /// keep the floor at the steady level, so the steady frames read about 0 and the bursts about 4.6 / 4.
    func testBurstsWithGapsLeaveTheFloorAtTheSteadyLevel() {
        let frameSeconds = 0.016, on = 38, off = 19, steady: Float = -6
        let x: [[Float]] = (0..<(5 * (on + off))).map { t in [t % (on + off) < on ? steady + 4.6 : steady] }
        let y = tracked(x, frameSeconds: frameSeconds)
        // From the second cycle on, away from the edges the smoothing blurs.
        for t in (on + off)..<x.count {
            let phase = t % (on + off)
            if phase >= on + 10 { XCTAssertLessThan(abs(y[t][0]), 0.02, "gap frame \(t)") }
            if (10..<on).contains(phase) { XCTAssertEqual(y[t][0], 1.15, accuracy: 0.02, "burst frame \(t)") }
        }
    }

    /// Bands are tracked independently: eleven bands at once (eight in vector lanes, three after them) give what
    /// eleven one-band trackers give.
    func testBandsAreTrackedIndependently() {
        let features = TestSignals.logPowers(frames: 200, bins: 11, seed: 9)
        let frames = (0..<200).map { Array(UnsafeBufferPointer(start: features.row($0), count: 11)) }
        let together = tracked(frames, frameSeconds: 0.016)
        for b in 0..<11 {
            let alone = tracked(frames.map { [$0[b]] }, frameSeconds: 0.016)
            XCTAssertEqual(together.map { $0[b] }, alone.map { $0[0] }, "band \(b)")
        }
    }

    /// The block-wise minimum is the minimum over the last W frames exactly: against the formulas above, evaluated
    /// frame by frame with the whole window searched, for windows of 1, 2, 3, 7 and 94 frames, over 400 frames of
    /// nine bands with silent stretches in some bands, and across a reset.
    func testTheFloorIsTheExactMinimumOverTheWindow() {
        let bands = 9, count = 400, silent: Float = -23.02585
        let features = TestSignals.logPowers(frames: count, bins: bands, seed: 12)
        let frames: [[Float]] = (0..<count).map { t in
            (0..<bands).map { b in (b % 3 == 0 && (t / 37) % 4 == 1) || (t % 53 == b) ? silent : features.row(t)[b] }
        }
        for windowSeconds in [0.016, 0.032, 0.048, 0.112, 1.5] {
            let tracker = NoiseFloorTracker(bands: bands, frameSeconds: 0.016, windowSeconds: windowSeconds)
            let w = tracker.windowFrames, beta = tracker.beta
            for pass in 0..<2 {
                // The reference: smoothed levels, silence as +∞, the minimum over all of frames t − W + 1 … t.
                var smoothed = [Float](repeating: 0, count: bands), sounding = [Bool](repeating: false, count: bands)
                var levels: [[Float]] = []
                for (t, x) in frames.enumerated() {
                    var level = [Float](repeating: .infinity, count: bands), expected = x
                    for b in 0..<bands where x[b] >= NoiseFloorTracker.silence {
                        smoothed[b] = sounding[b] ? smoothed[b] + beta * (x[b] - smoothed[b]) : x[b]
                        level[b] = smoothed[b]
                    }
                    for b in 0..<bands { sounding[b] = x[b] >= NoiseFloorTracker.silence }
                    levels.append(level)
                    for b in 0..<bands {
                        let floor = levels[max(0, t - w + 1)...t].map { $0[b] }.min() ?? .infinity
                        let height = (x[b] - floor) * NoiseFloorTracker.outputScale
                        expected[b] = x[b] < NoiseFloorTracker.silence ? 0 : height
                    }
                    var y = x
                    tracker.track(x, into: &y)
                    XCTAssertEqual(y, expected, "W = \(w), pass \(pass), frame \(t)")
                }
                tracker.reset()
            }
        }
    }

    /// Digital silence stays out of the floor: after 2 s of exact zeros (ln 1e-10, what `Features.logPower` gives
    /// them), a steady level reads as its own floor from its first frame on, as it does with nothing before it; the
    /// silent frames themselves read 0. A level that falls silent and comes back is treated the same way.
    func testDigitalSilenceStaysOutOfTheFloor() {
        let silent: Float = -23.02585, frameSeconds = 0.016
        let steady: [[Float]] = (0..<60).map { t in [-8 + 0.3 * sin(Float(t)), -12] }
        let alone = tracked(steady, frameSeconds: frameSeconds)
        let afterSilence = tracked(Array(repeating: [silent, silent], count: 125) + steady, frameSeconds: frameSeconds)
        XCTAssertTrue(afterSilence.prefix(125).allSatisfy { $0 == [0, 0] })
        assertClose(Array(afterSilence.suffix(60)), alone, 1e-6)
        // Sound, silence shorter than the window, the same sound again: each stretch as if from a start.
        let gap = tracked(Array(steady.prefix(30)) + Array(repeating: [silent, silent], count: 20) + steady,
                          frameSeconds: frameSeconds)
        assertClose(Array(gap.suffix(60)), tracked(Array(steady.prefix(30)) + steady, frameSeconds: frameSeconds)
            .suffix(60).map { $0 }, 0.3)
        XCTAssertTrue(gap.suffix(60).allSatisfy { $0.allSatisfy { abs($0) < 0.3 } }, "no height from the silence")
        // Without the rule the floor would sit at the silence: heights of (−8 + 23) / 4 ≈ 3.8.
        XCTAssertLessThan(NoiseFloorTracker.silence, -20)
    }

    /// A reset starts a new utterance: the same frames give the same heights again, whatever came before.
    func testResetStartsANewUtterance() {
        let features = TestSignals.logPowers(frames: 120, bins: 6, seed: 4)
        let tracker = NoiseFloorTracker(bands: 6, frameSeconds: 0.016)
        func pass() -> [Float] {
            var out: [Float] = [], y = [Float](repeating: 0, count: 6)
            for t in 0..<120 {
                tracker.track(features.row(t), into: &y)
                out += y
            }
            return out
        }
        let first = pass()
        tracker.reset()
        XCTAssertEqual(pass(), first)
        XCTAssertGreaterThan((first.max() ?? 0) - (first.min() ?? 0), 0.5, "the heights vary")
    }

    // MARK: The network and its paths

    private let configurations: [(kind: MaskNetKind, causal: Bool, norm: InputNormKind, bands: Int?)] = [
        (.cnn, false, .batch, nil), (.cnn, true, .running, 12), (.cnn, true, .layer, nil), (.mlp, false, .batch, nil),
        // As many input bands as floor bands: the stage pools each frame once for both.
        (.cnn, true, .running, 8),
    ]

    /// The floor bands follow the log powers in the input stage and widen the first layer; the mask is still one
    /// value per bin, and the parameter count follows.
    func testTheFloorBandsFollowTheLogPowersInTheInput() throws {
        for (kind, causal, norm, bands) in configurations {
            let label = "\(kind) causal \(causal) \(norm) \(bands ?? 0) bands"
            let net = try TestSignals.randomizedModel(kind, causal: causal, inputNorm: norm, bands: bands,
                                                      floorBands: 8).net
            let plain = try TestSignals.randomizedModel(kind, causal: causal, inputNorm: norm, bands: bands).net
            let stage = net.makeInputStage()
            XCTAssertTrue(stage.isStateful, label)
            XCTAssertEqual(stage.powerWidth, bands ?? 33, label)
            XCTAssertEqual(stage.inputWidth, (bands ?? 33) + 8, label)
            XCTAssertEqual(net.parameterCount, Int(net.config.parameterCount), label)
            let context = kind == .mlp ? 5 : 1, firstProjection = kind == .mlp ? 8 * context * 8 : 8 * 3 * 8
            XCTAssertEqual(net.parameterCount - plain.parameterCount, firstProjection + 2 * context * 8, label)

            // Frame by frame: the stage without the floor, then the floor's heights of the frame's own pooling.
            let plainStage = plain.makeInputStage(), pooling = ERBBands(bands: 8, bins: 33, nyquistHz: 8000)
            let tracker = NoiseFloorTracker(bands: 8, frameSeconds: net.frameSeconds)
            let features = TestSignals.logPowers(frames: 20, bins: 33, seed: 6)
            var staged = [Float](repeating: 0, count: stage.inputWidth)
            var expected = [Float](repeating: 0, count: plainStage.inputWidth)
            var pooled = [Float](repeating: 0, count: 8), heights = pooled, powers = [Float](repeating: 0, count: 33)
            for t in 0..<20 {
                stage.transformFrame(features.row(t), into: &staged)
                plainStage.transformFrame(features.row(t), into: &expected)
                pooling.pool(features.row(t), into: &pooled, powers: &powers)
                tracker.track(pooled, into: &heights)
                XCTAssertEqual(staged, expected + heights, "\(label), frame \(t)")
            }
            XCTAssertEqual(net.forward(features, layout: .single(frames: 20), training: false).cols, 33, label)
        }
    }

    /// The whole network against central finite differences, through the floor input.
    func testMaskNetGradientCheckWithTheFloorInput() throws {
        for (kind, causal, norm, bands) in configurations {
            let model = try TestSignals.randomizedModel(kind, causal: causal, inputNorm: norm, bands: bands,
                                                        floorBands: 8, dropout: 0, seed: 5)
            checkMaskNetGradients(model, featureOffset: -4, training: true, "\(kind) causal \(causal) \(norm)")
        }
    }

    /// Stepping a causal CNN with the floor gives the whole-utterance masks, and the denoiser's windows (which see
    /// history and look-ahead frames twice) and steps give the whole-utterance output: the tracker is fed every frame
    /// once, in order, on every path.
    func testEveryPathGivesTheWholeUtteranceOutput() throws {
        for (kind, causal, norm, bands) in configurations {
            let label = "\(kind) causal \(causal) \(norm)"
            let model = try TestSignals.randomizedModel(kind, causal: causal, inputNorm: norm, bands: bands,
                                                        floorBands: 8)
            if causal {
                let features = TestSignals.logPowers(frames: 150, bins: 33, seed: 12)
                try TestSignals.checkStreamMatchesForward(model.net, features: features, label)
            }
            TestSignals.checkDenoiserPathsMatchWholeUtterance(model, label)
        }
    }

    // MARK: Configuration, model file and growth

    func testBandCountsOutsideEightToTheBinsAreRefused() {
        for n in [-1, 0, 7, 34] {
            XCTAssertThrowsError(try MaskNetConfig(kind: .cnn, bins: 33, hidden: 8, floorBands: n).validate(), "\(n)")
        }
        for n in [8, 33] { XCTAssertNoThrow(try MaskNetConfig(kind: .cnn, bins: 33, floorBands: n).validate()) }
    }

    /// A floor window needs the floor input, and lies in 0.2...10 s.
    func testFloorWindowsOutsideTheirRangeOrWithoutTheInputAreRefused() {
        for (bands, window) in [(8, 0.1), (8, 10.5), (8, -1), (nil, 3)] as [(Int?, Double)] {
            XCTAssertThrowsError(try MaskNetConfig(kind: .cnn, bins: 33, floorBands: bands, floorWindow: window)
                .validate(), "\(String(describing: bands)) bands, \(window) s")
        }
        for window in [0.2, 3, 10] {
            XCTAssertNoThrow(try MaskNetConfig(kind: .cnn, bins: 33, floorBands: 8, floorWindow: window).validate())
        }
    }

    func testModelsWithTheFloorInputAreANewFormatAndRoundTrip() throws {
        let model = try TestSignals.randomizedModel(.cnn, causal: false, inputNorm: .batch, floorBands: 8)
        try TestSignals.checkNewFormatRoundTrip(model, version: "denoise-model-7", configJSON: #""floorBands":8"#)
        // Without it, models are written as before, and a file from before reads as having none.
        let plain = try TestSignals.randomizedModel(.cnn, causal: false, inputNorm: .batch)
        XCTAssertFalse(plain.safeTensors().metadata["masknet"]?.contains("floorBands") ?? true)
        XCTAssertNil(try DenoiseModel(safeTensors: plain.safeTensors(), path: "p").net.config.floorBands)
    }

    /// A window other than the default is format 8 (a format-7 reader would track over 1.5 s), reaches the tracker
    /// and so the masks, and every path still gives the whole-utterance output with it.
    func testAFloorWindowIsANewFormatAndReachesTheTracker() throws {
        let standard = try TestSignals.randomizedModel(.cnn, causal: true, inputNorm: .running, floorBands: 8)
        var config = standard.net.config
        config.floorWindow = 3
        let longer = try DenoiseModel(config: config, stft: standard.stft, sampleRate: 16000)
        longer.net.store.values.update(from: standard.net.store.values, count: standard.net.store.count)
        longer.net.store.markValuesChanged()
        XCTAssertEqual(standard.formatVersion, "denoise-model-7")
        try TestSignals.checkNewFormatRoundTrip(longer, version: "denoise-model-8", configJSON: #""floorWindow":3"#)
        XCTAssertEqual(longer.net.makeInputStage().floor?.tracker.windowFrames, 1500)  // 3 s of 2 ms frames
        // 4 s of frames: after the first 1.5 s the floors, so the masks, part.
        let x = TestSignals.logPowers(frames: 2000, bins: 33, seed: 6)
        let masks = [standard, longer].map { $0.net.forward(x, layout: .single(frames: 2000), training: false).array }
        let cols = 33, early = 700 * cols, late = 1900 * cols
        XCTAssertEqual(Array(masks[0][..<early]), Array(masks[1][..<early]), "the same floor within 1.5 s")
        XCTAssertGreaterThan(TestSignals.maxDifference(masks[0][late...], masks[1][late...]), 1e-4)
        let features = TestSignals.logPowers(frames: 150, bins: 33, seed: 12)
        try TestSignals.checkStreamMatchesForward(longer.net, features: features, "3 s window")
        TestSignals.checkDenoiserPathsMatchWholeUtterance(longer, "3 s window")
    }

    /// A grown model keeps every tensor, reads the floor with zero weights and so gives exactly the model's masks
    /// and speech logits; the BatchNorm input keeps its statistics for the old channels.
    func testAddingTheFloorInputKeepsTheModelsOutput() throws {
        for (causal, norm) in [(false, InputNormKind.batch), (true, .running)] {
            let label = "causal \(causal) \(norm)"
            var config = try TestSignals.randomizedModel(.cnn, causal: causal, inputNorm: norm).net.config
            config.speechHead = true
            let model = try DenoiseModel(config: config, stft: STFTConfig(nFFT: 64, hop: 32), seed: 4)
            var rng = RandomGenerator(seed: 21)
            TestSignals.randomizeWeights(model.net, rng: &rng)
            for (_, batchNorm) in model.net.batchNorms where batchNorm.runningMean.count == 33 {
                batchNorm.runningMean = (0..<33).map { _ in rng.uniform(-12, -4) }
                batchNorm.runningVariance = (0..<33).map { _ in rng.uniform(1, 9) }
            }
            model.maskExponent = 1.2
            let grown = try model.addingFloorInput(bands: 8, window: causal ? 3 : nil, seed: 2)
            XCTAssertEqual(grown.net.config.floorBands, 8, label)
            XCTAssertEqual(grown.net.config.floorWindow, causal ? 3 : nil, label)
            XCTAssertEqual(grown.maskExponent, 1.2, label)
            XCTAssertEqual(grown.net.parameterCount, model.net.parameterCount + 8 * 8 * 3 + 2 * 8, label)
            if let old = model.net.batchNorms.first(where: { $0.name == "input_norm" })?.layer,
               let new = grown.net.batchNorms.first(where: { $0.name == "input_norm" })?.layer {
                XCTAssertEqual(Array(new.runningMean.prefix(33)), old.runningMean, label)
                XCTAssertEqual(Array(new.runningVariance.prefix(33)), old.runningVariance, label)
            }
            let weight = try XCTUnwrap(grown.net.store.entry(named: "block0.conv.weight"))
            let values = Array(grown.net.store.valueBuffer[weight.range])
            for o in 0..<8 {
                let row = values[(o * 41 * 3)..<((o + 1) * 41 * 3)]
                XCTAssertTrue(row.suffix(8 * 3).allSatisfy { $0 == 0 }, "\(label): the new inputs' weights are 0")
                XCTAssertTrue(row.prefix(33 * 3).contains { $0 != 0 }, label)
            }
            let layout = SequenceBatch(frames: 40, lengths: [40, 25])
            let x = TestSignals.logPowers(frames: layout.rows, bins: 33, seed: 8)
            let mask = model.net.forward(x, layout: layout, training: false).array
            let logits = try XCTUnwrap(model.net.speechLogits).array
            let grownMask = grown.net.forward(x, layout: layout, training: false).array
            XCTAssertLessThan(TestSignals.maxDifference(grownMask[...], mask[...]), 1e-6, label)
            XCTAssertLessThan(TestSignals.maxDifference(try XCTUnwrap(grown.net.speechLogits).array[...], logits[...]),
                              1e-5, label)
        }
    }

    /// Training can move the new weights: the loss's gradient reaches them though they start at zero.
    func testTheNewWeightsReceiveGradient() throws {
        let grown = try TestSignals.randomizedModel(.cnn, causal: false, inputNorm: .batch, dropout: 0)
            .addingFloorInput(bands: 8)
        let layout = SequenceBatch(frames: 30, lengths: [30, 20])
        let x = TestSignals.logPowers(frames: layout.rows, bins: 33, seed: 3)
        var rng = RandomGenerator(seed: 13)
        let count = layout.rows * 33
        let noisy = Matrix(rows: layout.rows, cols: 33, values: (0..<count).map { _ in rng.uniform(0.1, 1) })
        let clean = Matrix(rows: layout.rows, cols: 33, values: (0..<count).map { _ in rng.uniform(0, 1) })
        let store = grown.net.store, gradient = Matrix(rows: 0, cols: 0)
        store.zeroGradients()
        let mask = grown.net.forward(x, layout: layout, training: true)
        _ = Loss.spectral(mask: mask, noisyMagnitude: noisy, cleanMagnitude: clean, layout: layout, gradient: gradient)
        grown.net.backward(gradient)
        let weight = try XCTUnwrap(store.entry(named: "block0.conv.weight"))
        let gradients = Array(store.gradientBuffer[weight.range])
        var newInputs: [Float] = []
        for o in 0..<8 {
            let start = o * 41 * 3 + 33 * 3, end = (o + 1) * 41 * 3
            newInputs += gradients[start..<end]
        }
        XCTAssertGreaterThan(newInputs.map { $0 * $0 }.reduce(0, +), 0)
    }

    /// Twice, onto an MLP, or onto a per-frame (layer) input norm: refused with a reason.
    func testAddingTheFloorInputWhereItCannotStartAtZeroIsRefused() throws {
        let cases: [(DenoiseModel, String)] = [
            (try TestSignals.randomizedModel(.cnn, causal: false, inputNorm: .batch, floorBands: 8), "already"),
            (try TestSignals.randomizedModel(.mlp, causal: false, inputNorm: .batch), "an MLP"),
            (try TestSignals.randomizedModel(.cnn, causal: true, inputNorm: .layer), "layer-normalised"),
        ]
        for (model, reason) in cases {
            XCTAssertThrowsError(try model.addingFloorInput(bands: 8)) { error in
                XCTAssertTrue("\(error)".contains(reason), "\(error)")
            }
        }
    }
}
