import XCTest
@testable import DenoiseKit

/// Band (ERB-like) input: the filterbank, its pooling, and the network and paths that read bands instead of bins
/// (`MaskNetConfig.inputBands`).
final class InputBandsTests: XCTestCase {
    // MARK: The filterbank

    /// n_fft 64 at 16 kHz: 33 bins 250 Hz apart. E(8000) = 21.4 · log10(1 + 34.96) = 33.2945 ERBs, so 8 bands are
    /// centred 4.7564 ERBs apart, at 0, 152.9, 408.0, 833.6, 1543.6, 2727.9, 4703.8 and 8000 Hz: bins 0, 0.61, 1.63,
    /// 3.33, 6.17, 10.91, 18.82 and 32, which round to 0, 1, 2, 3, 6, 11, 19, 32 (no two on one bin).
    func testGoldenCentresOfEightBands() {
        let bands = ERBBands(bands: 8, bins: 33, nyquistHz: 8000)
        XCTAssertEqual(bands.centres, [0, 1, 2, 3, 6, 11, 19, 32])
        XCTAssertEqual(ERBBands.erbRate(hz: 8000), 33.2945, accuracy: 1e-4)
        let expectedHz = [0, 152.92, 408.02, 833.59, 1543.55, 2727.94, 4703.79, 8000]
        for (b, hz) in expectedHz.enumerated() {
            XCTAssertEqual(ERBBands.hz(erbRate: Double(b) * 33.29454 / 7), hz, accuracy: 0.01, "band \(b)")
        }
        // Band 4 rises over bins 3…6 and falls over 6…11.
        let band4 = (0..<33).map { bands.weight(band: 4, bin: $0) }
        let expected: [Float] = [0, 0, 0, 0, 1.0 / 3, 2.0 / 3, 1, 0.8, 0.6, 0.4, 0.2] + Array(repeating: 0, count: 22)
        for k in 0..<33 { XCTAssertEqual(band4[k], expected[k], accuracy: 1e-6, "bin \(k)") }
        // The first band is only the falling half, the last only the rising one.
        XCTAssertEqual((0..<33).map { bands.weight(band: 0, bin: $0) }, [1] + Array(repeating: 0, count: 32))
        XCTAssertEqual(bands.weight(band: 7, bin: 32), 1)
        XCTAssertEqual(bands.weight(band: 7, bin: 19), 0)
        XCTAssertEqual(bands.weight(band: 7, bin: 20), 1.0 / 13, accuracy: 1e-7)
    }

    /// 12 bands on 33 bins: centres at bins 0, 0.35, 0.84, 1.52, 2.45, 3.75, 5.54, 8.03, 11.5, 16.2, 22.9, 32 round
    /// to 0, 0, 1, 2, 2, 4, 6, 8, 11, 16, 23, 32; the low ones, narrower than a bin, are moved up to one bin each.
    func testBandsNarrowerThanABinGetABinEach() {
        let bands = ERBBands(bands: 12, bins: 33, nyquistHz: 8000)
        XCTAssertEqual(bands.centres, [0, 1, 2, 3, 4, 5, 6, 8, 11, 16, 23, 32])
        for b in 1...5 {
            XCTAssertEqual((0..<33).map { bands.weight(band: b, bin: $0) },
                           (0..<33).map { $0 == b ? 1 : 0 }, "band \(b) is bin \(b) alone")
        }
        // As many bands as bins: one bin each.
        XCTAssertEqual(ERBBands(bands: 33, bins: 33, nyquistHz: 8000).centres, Array(0..<33))
    }

    /// For band counts a model accepts at n_fft 512 (all up to 64, then every fifth), at n_fft 64 (all) and at 48 kHz
    /// n_fft 1024 (every sixteenth): each bin's weights sum to 1, every band has a bin, centres rise strictly from
    /// bin 0 to the last bin.
    func testEveryBinIsSharedOutWholeAndNoBandIsEmpty() {
        for (bins, nyquist) in [(257, 8000.0), (33, 8000), (513, 24000)] {
            let every = bins < 300 ? 5 : 16
            for n in MaskNetConfig.fewestInputBands...bins where n <= 64 && bins < 300 || n % every == 0 {
                let bands = ERBBands(bands: n, bins: bins, nyquistHz: nyquist)
                XCTAssertEqual(bands.centres.first, 0)
                XCTAssertEqual(bands.centres.last, bins - 1)
                XCTAssertTrue(zip(bands.centres, bands.centres.dropFirst()).allSatisfy { $0 < $1 }, "\(n) of \(bins)")
                for k in 0..<bins {
                    let total = (0..<n).reduce(Float(0)) { $0 + bands.weight(band: $1, bin: k) }
                    XCTAssertEqual(total, 1, accuracy: 1e-6, "\(n) bands, bin \(k)")
                }
                for b in 0..<n {
                    XCTAssertEqual(bands.weight(band: b, bin: bands.centres[b]), 1, "\(n) bands, band \(b)")
                }
            }
        }
    }

    /// The 8 bands of 33 bins on powers P_k = k + 1 (total 561): band powers 1, 2, 3, 4 + 5·2/3 + 6/3 = 9⅓,
    /// 5/3 + 6·2/3 + 7 + (8·4 + 9·3 + 10·2 + 11)/5 = 30⅔, 84.5, 227.5, 203 (sum 561), and their logarithms.
    func testPoolingGivesTheLogOfWeightedPowerSums() {
        let bands = ERBBands(bands: 8, bins: 33, nyquistHz: 8000)
        let x = (0..<33).map { log(Float($0 + 1) + Features.logPowerFloor) }
        var y = [Float](repeating: 0, count: 8), powers = [Float](repeating: 0, count: 33)
        bands.pool(x, into: &y, powers: &powers)
        let golden: [Float] = [0, 0.693147, 1.098612, 2.233592, 3.423176, 4.436752, 5.427150, 5.313206]
        for b in 0..<8 { XCTAssertEqual(y[b], golden[b], accuracy: 2e-6, "band \(b)") }
        XCTAssertEqual(y.reduce(0) { $0 + exp($1) }, 561, accuracy: 1e-3, "the bands share out the whole power")
        // Digital silence pools to silence: the per-bin convention holds per band.
        let silence = [Float](repeating: MaskNet.silence, count: 33)
        bands.pool(silence, into: &y, powers: &powers)
        for b in 0..<8 { XCTAssertEqual(y[b], MaskNet.silence, accuracy: 1e-4, "band \(b)") }
    }

    /// 32 bands of 257 bins (most bands wide enough for the eight-bin vector path) against a Double reference of
    /// the formula, on random log powers from silence up, and on a frame with a log power beyond the vector range
    /// (+85, the scalar fallback) in a wide band.
    func testPoolingMatchesADoubleReferenceOnEveryPath() {
        let bands = ERBBands(bands: 32, bins: 257, nyquistHz: 8000)
        var rng = RandomGenerator(seed: 7)
        var frames = (0..<3).map { _ in (0..<257).map { _ in rng.uniform(-23.02585, 20) } }
        frames[2][240] = 85
        for (f, x) in frames.enumerated() {
            var y = [Float](repeating: 0, count: 32), powers = [Float](repeating: 0, count: 257)
            bands.pool(x, into: &y, powers: &powers)
            for b in 0..<32 {
                let sum = (0..<257).reduce(0.0) { total, k in
                    total + Double(bands.weight(band: b, bin: k)) * max(exp(Double(x[k])) - 1e-10, 0)
                }
                XCTAssertEqual(Double(y[b]), log(sum + 1e-10), accuracy: 2e-6 * max(1, abs(log(sum + 1e-10))),
                               "frame \(f), band \(b)")
            }
        }
    }

    // MARK: Networks with band input




    private let configurations: [(MaskNetKind, Bool, InputNormKind)] = [
        (.mlp, false, .batch), (.mlp, false, .running), (.cnn, false, .layer), (.cnn, true, .running),
        (.cnn, true, .batch),
    ]

    /// The input norm and the first projection are as wide as the bands; the mask is as wide as the bins; the
    /// parameter count follows.
    func testTheInputLayersAreAsWideAsTheBands() throws {
        for (kind, causal, norm) in configurations {
            let net = try TestSignals.randomizedModel(kind, causal: causal, inputNorm: norm, bands: 12).net
            let context = kind == .mlp ? 5 : 1
            XCTAssertEqual(net.store.entry(named: "input_norm.weight")?.count, context * 12, "\(kind) \(norm)")
            XCTAssertEqual(net.parameterCount, Int(net.config.parameterCount), "\(kind) \(norm)")
            let perBin = try TestSignals.randomizedModel(kind, causal: causal, inputNorm: norm, bands: nil).net
            let firstProjection = kind == .mlp ? 8 * context * (33 - 12) : 8 * 3 * (33 - 12)
            XCTAssertEqual(perBin.parameterCount - net.parameterCount, firstProjection + 2 * context * (33 - 12))
            let features = TestSignals.logPowers(frames: 7, bins: 33, seed: 1)
            let mask = net.forward(features, layout: .single(frames: 7), training: false)
            XCTAssertEqual(mask.cols, 33)
        }
    }

    /// The whole network against central finite differences of the spectral loss, through the band input (the
    /// input norm's folded backward included).
    func testMaskNetGradientCheckWithBandInput() throws {
        for (kind, causal, norm) in configurations {
            // No dropout, so that the loss is a function of the weights in training mode (BatchNorm's batch
            // statistics).
            let model = try TestSignals.randomizedModel(kind, causal: causal, inputNorm: norm, bands: 12, dropout: 0,
                                                        seed: 5)
            checkMaskNetGradients(model, featureOffset: -4, training: true, "\(kind) causal \(causal) \(norm)")
        }
    }

    /// `MaskNetStream` stepping a causal CNN with bands gives `MaskNet.forward`'s masks, and starts over after a
    /// reset.
    func testStreamStepsGiveTheWholeUtteranceMasks() throws {
        for norm in [InputNormKind.batch, .layer, .running] {
            let net = try TestSignals.randomizedModel(.cnn, causal: true, inputNorm: norm, bands: 12).net
            let features = TestSignals.logPowers(frames: 50, bins: net.config.bins, seed: 12)
            try TestSignals.checkStreamMatchesForward(net, features: features,
                                                      "\(norm)")
        }
    }

    /// The denoiser's windows (with history and look-ahead frames seen twice) and its frame steps give the output of
    /// the whole-utterance mask applied by hand, with every input norm.
    func testDenoiserPathsApplyTheWholeUtteranceMask() throws {
        for (kind, causal, norm) in configurations {
            let model = try TestSignals.randomizedModel(kind, causal: causal, inputNorm: norm, bands: 12)
            TestSignals.checkDenoiserPathsMatchWholeUtterance(model, "\(kind) causal \(causal) \(norm)")
        }
    }

    // MARK: Configuration and model file

    func testBandCountsOutsideEightToTheBinsAreRefused() {
        for n in [-1, 0, 3, 7, 34] {
            let config = MaskNetConfig(kind: .cnn, bins: 33, hidden: 8, inputBands: n)
            XCTAssertThrowsError(try config.validate(), "\(n) bands")
        }
        for n in [8, 16, 33] { XCTAssertNoThrow(try MaskNetConfig(kind: .cnn, bins: 33, inputBands: n).validate()) }
    }

    func testModelsWithBandInputAreANewFormatAndRoundTrip() throws {
        let model = try TestSignals.randomizedModel(.cnn, causal: true, inputNorm: .running, bands: 12)
        let loaded = try TestSignals.checkNewFormatRoundTrip(model, version: "denoise-model-6",
                                                             configJSON: #""inputBands":12"#)
        XCTAssertEqual(loaded.net.inputBands?.centres, model.net.inputBands?.centres)
        // Without bands, models are written exactly as before: no key, the older versions.
        let perBin = try TestSignals.randomizedModel(.cnn, causal: true, inputNorm: .running, bands: nil)
        XCTAssertEqual(perBin.formatVersion, "denoise-model-5")
        XCTAssertFalse(perBin.safeTensors().metadata["masknet"]?.contains("inputBands") ?? true)
        XCTAssertEqual(try TestSignals.tinyModel(.cnn).formatVersion, "denoise-model-1")
        // A file written before the option existed reads as per-bin input.
        let old = try JSONDecoder().decode(MaskNetConfig.self, from: Data(DenoiseModel.json(perBin.net.config).utf8))
        XCTAssertNil(old.inputBands)
    }

    /// The bands end at the model's own Nyquist frequency: a 48 kHz model's 32 bands are not a 16 kHz model's.
    func testBandsFollowTheModelsSampleRate() throws {
        let stft = STFTConfig(nFFT: 64, hop: 32)
        let config = MaskNetConfig(kind: .cnn, bins: stft.bins, hidden: 8, causal: true, inputBands: 12)
        let at16 = try DenoiseModel(config: config, stft: stft, sampleRate: 16000).net.inputBands
        let at48 = try DenoiseModel(config: config, stft: stft, sampleRate: 48000).net.inputBands
        XCTAssertEqual(at16?.centres, ERBBands(bands: 12, bins: 33, nyquistHz: 8000).centres)
        XCTAssertEqual(at48?.centres, ERBBands(bands: 12, bins: 33, nyquistHz: 24000).centres)
        XCTAssertNotEqual(at16?.centres, at48?.centres)
    }
}

