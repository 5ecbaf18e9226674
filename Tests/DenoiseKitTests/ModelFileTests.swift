import XCTest
@testable import DenoiseKit

final class ModelFileTests: XCTestCase {
    func testSafeTensorsRoundTripKeepsTensorsAndMetadata() throws {
        let file = SafeTensors(tensors: ["a.weight": .init(shape: [2, 3], values: [1, -2, 3.5, 0, 1e-8, -7]),
                                         "b": .init(shape: [1], values: [42])],
                               metadata: ["format": "x", "note": "héllo"])
        let data = file.encoded()
        let headerLength = TestSignals.safeTensorsHeaderLength(data)
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

    /// float16 tensors are written as "F16", rounded to nearest with ties to even (golden bit patterns from the
    /// IEEE 754 binary16 layout), and read back as the rounded values.
    func testFloat16TensorsHaveTheirGoldenBitPatterns() throws {
        // 1 + 2^-11 lies halfway between 1 and the next float16, 1 + 2^-10: ties to even gives 1.
        let values: [Float] = [1, -2, 65504, 1.0 / 3, 0x1p-24, 0.1, 1 + 0x1p-11]
        let goldenBits: [UInt16] = [0x3C00, 0xC000, 0x7BFF, 0x3555, 0x0001, 0x2E66, 0x3C00]
        let data = SafeTensors(tensors: ["h": .init(shape: [7], values: values, precision: .float16)]).encoded()
        let headerLength = TestSignals.safeTensorsHeaderLength(data)
        let header = String(decoding: data.dropFirst(8).prefix(headerLength), as: UTF8.self)
        XCTAssertTrue(header.contains(#""dtype":"F16""#), header)
        XCTAssertTrue(header.contains(#""data_offsets":[0,14]"#), header)
        let body = [UInt8](data.dropFirst(8 + headerLength))
        XCTAssertEqual(stride(from: 0, to: body.count, by: 2).map { UInt16(body[$0]) | UInt16(body[$0 + 1]) << 8 },
                       goldenBits)
        let decoded = try XCTUnwrap(try SafeTensors.decode(data, path: "h.safetensors").tensors["h"])
        XCTAssertEqual(decoded.precision, .float16)
        XCTAssertEqual(decoded.values, [1, -2, 65504, 0.333251953125, 0x1p-24, 0.0999755859375, 1])
        XCTAssertEqual(SafeTensors(tensors: ["h": decoded]).encoded(), data, "a read float16 file writes back as is")
    }

    func testSafeTensorsRejectsOtherDtypesAndRaggedFloat16Data() {
        func file(_ entry: String, bytes: Int) -> Data {
            TestSignals.safeTensorsFile(header: "{\"x\":\(entry)}", data: [UInt8](repeating: 0, count: bytes))
        }
        XCTAssertNoThrow(try SafeTensors.decode(file(#"{"data_offsets":[0,6],"dtype":"F16","shape":[3]}"#, bytes: 6),
                                                path: "ok"))
        XCTAssertThrowsError(try SafeTensors.decode(file(#"{"data_offsets":[0,6],"dtype":"BF16","shape":[3]}"#,
                                                         bytes: 6), path: "b.safetensors")) { error in
            XCTAssertTrue("\(error)".contains("b.safetensors") && "\(error)".contains("BF16")
                          && "\(error)".contains("F16"), "\(error)")
        }
        let ragged = file(#"{"data_offsets":[0,5],"dtype":"F16","shape":[3]}"#, bytes: 6)
        XCTAssertThrowsError(try SafeTensors.decode(ragged, path: "r")) { error in
            XCTAssertTrue("\(error)".contains("data_offsets"), "\(error)")
        }
    }

    /// A float16 model file reads back as the model's weights rounded to float16. A tensor with a value past
    /// float16's range stays float32, rather than turning into infinities that the loader would refuse.
    func testFloat16ModelFileHoldsRoundedWeightsAndKeepsWideTensorsInFloat32() throws {
        let model = try TestSignals.tinyModel(.cnn, norm: .batch, seed: 12)
        var rng = RandomGenerator(seed: 5)
        TestSignals.randomizeWeights(model.net, rng: &rng)
        model.net.batchNorms[0].layer.runningVariance[0] = 1e6
        let folder = try TestSignals.temporaryFolder()
        let wide = folder.appendingPathComponent("32.safetensors")
        let narrow = folder.appendingPathComponent("16.safetensors")
        try model.save(to: wide)
        try model.save(to: narrow, precision: .float16)
        let file = try SafeTensors.read(url: narrow)
        let kept = file.tensors.filter { $0.value.precision == .float32 }.map(\.key)
        XCTAssertEqual(kept, [model.net.batchNorms[0].name + ".running_var"])
        let saved = file.tensors.values.filter { $0.precision == .float16 }.map(\.values.count).reduce(0, +)
        let sizes = try [wide, narrow].map {
            try XCTUnwrap(FileManager.default.attributesOfItem(atPath: $0.path)[.size] as? Int)
        }
        XCTAssertEqual(sizes[0] - sizes[1], 2 * saved, "two bytes fewer for each float16 value")

        let loaded = try DenoiseModel.load(url: narrow)
        let weights = Array(model.net.store.valueBuffer), read = Array(loaded.net.store.valueBuffer)
        XCTAssertEqual(read, weights.map { Float(Float16($0)) })
        XCTAssertNotEqual(read, weights, "nothing was rounded")
        XCTAssertEqual(loaded.net.batchNorms[0].layer.runningVariance[0], 1e6)
    }

    /// The audio a float16 copy gives stays within a bound of the float32 model's, for a network whose every weight
    /// matters (drawn in ±0.4, none representable in float16 as drawn): float16 storage is a size choice, not a
    /// different denoiser. Here the difference is about 89 dB below the output; weights rounded to 9 significant bits
    /// give about 79 dB and bfloat16's 8 about 71, and fail. The bundled copies' validation scores are in
    /// samples/README.md.
    func testFloat16CopyGivesTheSameAudioWithinABound() throws {
        let model = try TestSignals.randomizedModel(.cnn, causal: false, inputNorm: .running, bands: 12, floorBands: 8,
                                                    dropout: 0)
        let copy = try DenoiseModel(safeTensors: SafeTensors.decode(model.safeTensors(precision: .float16).encoded(),
                                                                    path: "copy"), path: "copy")
        let input = TestSignals.noisySpeech(seconds: 2, rate: 16000)
        let reference = TestSignals.denoised(input, model: model).audio
        let rounded = TestSignals.denoised(input, model: copy).audio
        XCTAssertEqual(reference.count, rounded.count)
        let signal = reference.reduce(0) { $0 + Double($1) * Double($1) }
        let error = zip(reference, rounded).reduce(0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
        XCTAssertGreaterThan(error, 0, "the copy should differ from the float32 model")
        XCTAssertGreaterThan(10 * log10(signal / error), 80, "float16 copy's output, dB of signal over difference")
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
