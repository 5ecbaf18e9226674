import XCTest
@testable import DenoiseKit

final class ModelFileTests: XCTestCase {
    func testSafeTensorsRoundTripKeepsTensorsAndMetadata() throws {
        let file = SafeTensors(tensors: ["a.weight": .init(shape: [2, 3], values: [1, -2, 3.5, 0, 1e-8, -7]),
                                         "b": .init(shape: [1], values: [42])],
                               metadata: ["format": "x", "note": "héllo"])
        let data = file.encoded()
        let headerLength = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        XCTAssertEqual((8 + headerLength) % 8, 0, "data should start 8-byte aligned")
        XCTAssertEqual(try SafeTensors.decode(data, path: "m.safetensors"), file)
    }

    /// Every model in samples/ says how it was made: a training run (with the runs it started from, and the blend
    /// record of a blend it started from), or a blend with the command that wrote it into samples/ and, for each
    /// blended model, its runs or its own blend record. samples/README.md has the commands in full; this keeps the
    /// files themselves from losing the record.
    func testEveryBundledModelRecordsHowItWasMade() throws {
        let samples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("samples")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: samples.path))?
            .filter { $0.hasSuffix(".safetensors") } ?? []
        guard !names.isEmpty else { throw XCTSkip("no bundled models in \(samples.path)") }
        for name in names {
            let model = try DenoiseModel.load(url: samples.appendingPathComponent(name))
            // Each stored record once: walked as a tree, a history of g soups has 3^g records.
            func checkSides(_ blend: BlendSummary) {
                for record in blend.storedRecords {
                    XCTAssertNotNil(record.command, name)
                    for (training, inner) in [(record.first, record.firstBlend), (record.second, record.secondBlend)] {
                        XCTAssertTrue(training?.command != nil || inner != nil, "\(name): a side with no record")
                    }
                }
            }
            if let training = model.training {
                XCTAssertNotNil(training.command, "\(name): its last training run records no command")
                if let blend = model.blend { checkSides(blend) }
            } else if let blend = model.blend {
                XCTAssertTrue(blend.command?.contains("-o samples/\(name) ") == true, "\(name): \(blend.command ?? "")")
                checkSides(blend)
            } else {
                XCTFail("\(name) records neither a training run nor a blend")
            }
        }
    }

    func testSafeTensorsRejectsLyingHeaderLength() {
        var data = SafeTensors(tensors: ["x": .init(shape: [1], values: [1])]).encoded()
        data.replaceSubrange(0..<8, with: [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0])
        XCTAssertThrowsError(try SafeTensors.decode(data, path: "bad.safetensors")) { error in
            XCTAssertTrue("\(error)".contains("bad.safetensors"))
        }
    }

    func testSafeTensorsRejectsTruncatedData() {
        let data = SafeTensors(tensors: ["x": .init(shape: [4], values: [1, 2, 3, 4])]).encoded()
        XCTAssertThrowsError(try SafeTensors.decode(data.prefix(data.count - 3), path: "t.safetensors")) { error in
            XCTAssertTrue("\(error)".contains("data_offsets"), "\(error)")
        }
    }

    func testSafeTensorsRejectsGarbageAndEmptyFiles() {
        XCTAssertThrowsError(try SafeTensors.decode(Data(), path: "e"))
        XCTAssertThrowsError(try SafeTensors.decode(Data("this is not a model at all".utf8), path: "g"))
    }

    func testModelSaveLoadRoundTripGivesSameMask() throws {
        for kind in MaskNetKind.allCases {
            let model = try TestSignals.tinyModel(kind, norm: .batch, seed: 11)
            model.net.batchNorms[0].layer.runningMean[0] = 0.25
            let folder = try TestSignals.temporaryFolder()
            let url = folder.appendingPathComponent("m.safetensors")
            try model.save(to: url)
            let loaded = try DenoiseModel.load(url: url)
            XCTAssertEqual(loaded.net.config, model.net.config)
            XCTAssertEqual(loaded.stft, model.stft)
            XCTAssertEqual(Array(loaded.net.store.valueBuffer), Array(model.net.store.valueBuffer))
            XCTAssertEqual(loaded.net.batchNorms[0].layer.runningMean[0], 0.25)
            let input = Matrix(rows: 5, cols: model.stft.bins,
                               values: (0..<(5 * model.stft.bins)).map { Float($0 % 7) - 3 })
            let a = model.net.forward(input, layout: .single(frames: 5), training: false).array
            let b = loaded.net.forward(input, layout: .single(frames: 5), training: false).array
            XCTAssertEqual(a, b)
        }
    }

    /// A model trained at any rate reads back: the default high band's reference starts at half the model's Nyquist
    /// frequency, so it lies below the crossover (a fixed 4 kHz made 8 kHz models unreadable).
    func testModelsAtEveryRateReadBackWithTheirDefaultHighBand() throws {
        let folder = try TestSignals.temporaryFolder()
        for rate in [8000, 11025, 16000, 22050, 48000] {
            let model = try DenoiseModel(config: TestSignals.tinyModel(.mlp).net.config,
                                         stft: STFTConfig(nFFT: 64, hop: 32, window: .sqrtHann), sampleRate: rate)
            let url = folder.appendingPathComponent("\(rate).safetensors")
            try model.save(to: url)
            let loaded = try DenoiseModel.load(url: url)
            XCTAssertEqual(loaded.highBand.referenceLowHz, Double(rate) / 4, "\(rate) Hz")
            XCTAssertLessThan(loaded.highBand.referenceLowHz, loaded.highBand.crossoverHz(sampleRate: rate))
        }
    }

    /// A model with skip connections is written as version 2, which builds that cannot run it refuse; a plain one
    /// stays version 1. Both read back with their configuration.
    func testResidualModelsAreWrittenAsVersionTwoAndPlainOnesAsVersionOne() throws {
        for residual in [false, true] {
            let model = try TestSignals.tinyModel(.cnn, residual: residual)
            let file = model.safeTensors()
            XCTAssertEqual(file.metadata["format"], residual ? "denoise-model-2" : "denoise-model-1")
            XCTAssertEqual(try DenoiseModel(safeTensors: file, path: "m").net.config.residual, residual)
        }
    }

    func testMaskExponentIsStoredOnlyWhenSetAndCheckedAtLoad() throws {
        let model = try TestSignals.tinyModel(.mlp)
        XCTAssertNil(model.safeTensors().metadata["mask_exponent"])
        XCTAssertEqual(try DenoiseModel(safeTensors: model.safeTensors(), path: "m").maskExponent, 1)
        model.maskExponent = 0.7
        XCTAssertEqual(try DenoiseModel(safeTensors: model.safeTensors(), path: "m").maskExponent, 0.7)
        for bad in ["0", "-1", "nan", "strong", "100"] {
            var file = model.safeTensors()
            file.metadata["mask_exponent"] = bad
            XCTAssertThrowsError(try DenoiseModel(safeTensors: file, path: "e.safetensors"), bad) { error in
                XCTAssertTrue("\(error)".contains("e.safetensors") && "\(error)".contains("mask_exponent '\(bad)'"),
                              "\(error)")
            }
        }
    }

    func testAttenuationLimitIsStoredOnlyWhenSetAndCheckedAtLoad() throws {
        let model = try TestSignals.tinyModel(.mlp)
        XCTAssertNil(model.safeTensors().metadata["attenuation_limit_db"])
        XCTAssertNil(try DenoiseModel(safeTensors: model.safeTensors(), path: "m").attenuationLimitDB)
        model.attenuationLimitDB = 30
        XCTAssertEqual(try DenoiseModel(safeTensors: model.safeTensors(), path: "m").attenuationLimitDB, 30)
        XCTAssertEqual(try model.addingSpeechHead().attenuationLimitDB, 30, "an extension keeps the setting")
        for bad in ["-1", "nan", "inf", "deep"] {
            var file = model.safeTensors()
            file.metadata["attenuation_limit_db"] = bad
            XCTAssertThrowsError(try DenoiseModel(safeTensors: file, path: "a.safetensors"), bad) { error in
                XCTAssertTrue("\(error)".contains("a.safetensors")
                              && "\(error)".contains("attenuation_limit_db '\(bad)'"), "\(error)")
            }
        }
    }

    func testModelWithNaNWeightsIsRejectedAtLoad() throws {
        let model = try TestSignals.tinyModel(.mlp)
        var file = model.safeTensors()
        let name = model.net.store.entries[1].name
        file.tensors[name]!.values[0] = .nan
        XCTAssertThrowsError(try DenoiseModel(safeTensors: file, path: "nan.safetensors")) { error in
            XCTAssertEqual(error as? ModelFileError, .nonFinite(path: "nan.safetensors", name: name))
        }
    }

    func testModelOfAnotherFormatVersionIsRejected() throws {
        var file = try TestSignals.tinyModel(.cnn).safeTensors()
        file.metadata["format"] = "denoise-model-99"
        XCTAssertThrowsError(try DenoiseModel(safeTensors: file, path: "v.safetensors")) { error in
            XCTAssertEqual(error as? ModelFileError,
                           .unsupportedVersion(path: "v.safetensors", found: "denoise-model-99"))
        }
    }

    func testModelWithMissingTensorIsRejected() throws {
        let model = try TestSignals.tinyModel(.mlp)
        var file = model.safeTensors()
        file.tensors.removeValue(forKey: "output.linear.weight")
        XCTAssertThrowsError(try DenoiseModel(safeTensors: file, path: "m")) { error in
            XCTAssertEqual(error as? ModelFileError, .missingTensor(path: "m", name: "output.linear.weight"))
        }
    }
}
