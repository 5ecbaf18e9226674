import XCTest
@testable import DenoiseKit

final class ModelInterpolationTests: XCTestCase {
    /// Every tensor and running statistic of `model` by name, as the model file stores them.
    private func tensors(_ model: DenoiseModel) -> [String: [Float]] {
        model.safeTensors().tensors.mapValues(\.values)
    }

    func testWeightsAreTheStraightLineBetweenTheModels() throws {
        let start = try TestSignals.tinyModel(.cnn, norm: .batch, residual: true, seed: 1)
        let end = try TestSignals.tinyModel(.cnn, norm: .batch, residual: true, seed: 2)
        start.net.batchNorms[0].layer.runningMean[0] = 1
        end.net.batchNorms[0].layer.runningMean[0] = 3
        let (a, b) = (tensors(start), tensors(end))
        XCTAssertEqual(tensors(try start.interpolated(toward: end, weight: 0)), a)
        XCTAssertEqual(tensors(try start.interpolated(toward: end, weight: 1)), b)

        let quarter = try start.interpolated(toward: end, weight: 0.25)
        XCTAssertEqual(quarter.net.batchNorms[0].layer.runningMean[0], 1.5)
        let q = tensors(quarter)
        XCTAssertEqual(Set(q.keys), Set(a.keys))
        for (name, values) in q {
            let expected = zip(try XCTUnwrap(a[name]), try XCTUnwrap(b[name])).map { 0.75 * $0 + 0.25 * $1 }
            XCTAssertEqual(values.count, expected.count, name)
            for (value, wanted) in zip(values, expected) { XCTAssertEqual(value, wanted, accuracy: 1e-6, name) }
        }
        XCTAssertNotEqual(q, a)
    }

    /// The blend's mask is computed from the blended weights: at weight 0 it is the first model's, bit for bit.
    func testWeightZeroDenoisesAsTheFirstModel() throws {
        let start = try TestSignals.tinyModel(.mlp, norm: .layer, seed: 4)
        let end = try TestSignals.tinyModel(.mlp, norm: .layer, seed: 5)
        let frames = 6, bins = start.stft.bins
        let input = Matrix(rows: frames, cols: bins, values: (0..<(frames * bins)).map { Float($0 % 11) / 3 - 1 })
        func mask(_ model: DenoiseModel) -> [Float] {
            model.net.forward(input, layout: .single(frames: frames), training: false).array
        }
        XCTAssertEqual(mask(try start.interpolated(toward: end, weight: 0)), mask(start))
        XCTAssertNotEqual(mask(try start.interpolated(toward: end, weight: 0.5)), mask(start))
    }

    /// A speech head only one model has is taken from it unchanged, whichever side it is on; settings are the second's.
    func testHeadOfOneModelIsCopiedAndSettingsComeFromTheSecond() throws {
        let plain = try TestSignals.tinyModel(.cnn, seed: 1)
        let headed = try TestSignals.tinyModel(.cnn, dropout: 0.2, speechHead: true, seed: 2)
        headed.maskExponent = 0.8
        headed.attenuationLimitDB = 25
        let headNames = Set(tensors(headed).keys).subtracting(tensors(plain).keys)
        XCTAssertFalse(headNames.isEmpty)
        for (first, second) in [(plain, headed), (headed, plain)] {
            let blend = try first.interpolated(toward: second, weight: 0.5)
            XCTAssertTrue(blend.hasSpeechHead)
            XCTAssertEqual(blend.formatVersion, "denoise-model-4")
            for name in headNames { XCTAssertEqual(tensors(blend)[name], tensors(headed)[name], name) }
            XCTAssertEqual(blend.maskExponent, second.maskExponent)
            XCTAssertEqual(blend.attenuationLimitDB, second.attenuationLimitDB)
            XCTAssertEqual(blend.net.config.dropout, second.net.config.dropout)
            XCTAssertNil(blend.training)
        }
    }

    /// A blend records its weight and both models' training summaries, and the blend record of a side that came from
    /// a blend itself; the record survives the file and a speech head added for fine-tuning.
    func testBlendRecordsWeightAndBothTrainingSummariesThroughTheFile() throws {
        let start = try TestSignals.tinyModel(.cnn, seed: 1), end = try TestSignals.tinyModel(.cnn, seed: 2)
        func run(_ command: String, epochs: Int) -> TrainingSummary {
            TrainingSummary(epochs: epochs, bestEpoch: epochs - 1, validationLoss: 0.5, validationSISDRGain: 3,
                            trainingPairs: 10, trainingSeconds: 60, command: command)
        }
        start.training = run("denoise train -o a", epochs: 5)
        end.training = run("denoise train -o b --init a/model.safetensors", epochs: 7)
        end.training?.earlierRuns = [try XCTUnwrap(start.training)]

        let blend = try start.interpolated(toward: end, weight: 0.75)
        XCTAssertNil(blend.training)
        XCTAssertEqual(blend.blend, BlendSummary(weight: 0.75, first: start.training, second: end.training))
        blend.blend?.command = "denoise blend --weight 0.75 -o c.safetensors a b"
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("blend-\(UUID()).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try blend.save(to: url)
        let loaded = try DenoiseModel.load(url: url)
        XCTAssertEqual(loaded.blend, blend.blend)
        XCTAssertEqual(loaded.blend?.second?.lineage.count, 2)
        XCTAssertEqual(try loaded.addingSpeechHead().blend, blend.blend)

        // Blending a blend: the new record holds the new weight, no training record for the blended side, and that
        // side's own blend record, through the file too.
        let again = try loaded.interpolated(toward: start, weight: 0.5)
        XCTAssertEqual(again.blend, BlendSummary(weight: 0.5, first: nil, second: start.training,
                                                 firstBlend: loaded.blend))
        XCTAssertNil(start.blend)
        try again.save(to: url)
        let reloaded = try DenoiseModel.load(url: url)
        XCTAssertEqual(reloaded.blend, again.blend)
        XCTAssertEqual(reloaded.blend?.firstBlend?.second?.lineage.count, 2)
        XCTAssertNil(reloaded.blend?.secondBlend)

        // A model trained from a blend keeps it (`blend`) beside its runs; blended again, both reach the record.
        let tuned = try DenoiseModel.load(url: url)
        tuned.training = run("denoise train -o d --init c.safetensors", epochs: 3)
        let mixed = try reloaded.interpolated(toward: tuned, weight: 0.25)
        XCTAssertEqual(mixed.blend?.second, tuned.training)
        XCTAssertEqual(mixed.blend?.secondBlend, again.blend)
        XCTAssertEqual(mixed.blend?.firstBlend, again.blend)

        // Both sides share that record: the file holds it once, and loading gives it back to both.
        try mixed.save(to: url)
        let file = String(decoding: try Data(contentsOf: url), as: UTF8.self)
        XCTAssertEqual(file.components(separatedBy: "denoise train -o b --init").count - 1, 1)
        XCTAssertEqual(try DenoiseModel.load(url: url).blend, mixed.blend)
    }

    /// A soup's record reaches the next blend along several paths that are not sides of one blend (the soup itself,
    /// and inside the rounds trained from it): the file holds it once and reads back the whole history. Files that
    /// marked only shared sides still read, and an index with no record before it is refused.
    func testARecordMetAgainAnywhereIsWrittenOnce() throws {
        func run(_ command: String) -> TrainingSummary {
            TrainingSummary(epochs: 4, bestEpoch: 3, validationLoss: 0.5, validationSISDRGain: 3, trainingPairs: 10,
                            trainingSeconds: 60, command: command)
        }
        let start = BlendSummary(weight: 0.5, command: "denoise blend -o start a b", first: run("train a"),
                                 second: run("train b"))
        let soup = BlendSummary(weight: 0.5, command: "denoise blend -o soup start r1", first: nil,
                                second: run("train r1"), firstBlend: start, secondBlend: start)
        let rounds = BlendSummary(weight: 0.5, command: "denoise blend -o u r5 r6", first: run("train r5"),
                                  second: run("train r6"), firstBlend: soup, secondBlend: soup)
        let top = BlendSummary(weight: 0.5, command: "denoise blend -o top soup u", first: nil, second: nil,
                               firstBlend: soup, secondBlend: rounds)
        let text = DenoiseModel.json(top)
        XCTAssertEqual(text.components(separatedBy: "denoise blend -o start a b").count - 1, 1, text)
        XCTAssertEqual(text.components(separatedBy: "denoise blend -o soup start r1").count - 1, 1, text)
        XCTAssertEqual(DenoiseModel.decode(text), top)
        // storedRecords lists them as the file stores them: each once, sides first.
        XCTAssertEqual(top.storedRecords.map(\.command),
                       ["denoise blend -o start a b", "denoise blend -o soup start r1", "denoise blend -o u r5 r6",
                        "denoise blend -o top soup u"])
        let decoder = JSONDecoder(), stored = BlendRecords()
        decoder.userInfo[BlendRecords.key] = stored
        _ = try decoder.decode(BlendSummary.self, from: Data(text.utf8))
        XCTAssertEqual(stored.all, top.storedRecords)
        let whole = String(decoding: try JSONEncoder().encode(top), as: UTF8.self)
        XCTAssertEqual(whole.components(separatedBy: "denoise blend -o start a b").count - 1, 6,
                       "without the record list every path holds its copy")
        XCTAssertEqual(DenoiseModel.decode(whole), top)

        let older = #"{"weight":0.5,"firstBlend":{"weight":0.25},"secondBlendIsFirst":true}"#
        let read: BlendSummary? = DenoiseModel.decode(older)
        XCTAssertEqual(read?.secondBlend?.weight, 0.25)
        XCTAssertEqual(read?.firstBlend, read?.secondBlend, "an older file's shared side is read as both")
        let dangling: BlendSummary? = DenoiseModel.decode(#"{"weight":0.5,"firstBlendIndex":3}"#)
        XCTAssertNil(dangling)
    }

    func testRecordsOfManyGenerationsOfSoupsCompareAndRoundTrip() {
        // Each generation blends the file with two rounds trained from it, whose records both hold the file's: as a
        // tree the history of g generations has 3^g records; stored and compared, one per generation.
        func history(generations: Int, root: String) -> BlendSummary {
            var file = BlendSummary(weight: 0.5, command: root, first: nil, second: nil)
            for g in 1...generations {
                let rounds = BlendSummary(weight: 0.5, command: "blend -o u\(g) r\(g)a r\(g)b", first: nil,
                                          second: nil, firstBlend: file, secondBlend: file)
                file = BlendSummary(weight: 0.5, command: "blend -o f\(g) f\(g - 1) u\(g)", first: nil, second: nil,
                                    firstBlend: file, secondBlend: rounds)
            }
            return file
        }
        let file = history(generations: 40, root: "blend -o f0 a b")
        let text = DenoiseModel.json(file)
        XCTAssertEqual(text.components(separatedBy: "blend -o f0 a b").count - 1, 1, "the root is written once")
        let read: BlendSummary? = DenoiseModel.decode(text)
        XCTAssertEqual(read, file, "the file's history, read back from separate storage, equals the original")
        XCTAssertNotEqual(history(generations: 40, root: "blend -o f0 a c"), file, "a difference at the root counts")
    }

    func testRefusesDifferentArchitecturesRatesAndWeightsOutsideZeroToOne() throws {
        let model = try TestSignals.tinyModel(.cnn)
        let residual = try TestSignals.tinyModel(.cnn, residual: true)
        XCTAssertThrowsError(try model.interpolated(toward: residual, weight: 0.5)) {
            XCTAssertEqual("\($0)", "the models cannot be interpolated: their networks differ in residual false and "
                           + "true")
        }
        XCTAssertThrowsError(try model.interpolated(toward: TestSignals.tinyModel(.mlp), weight: 0.5)) {
            XCTAssertTrue("\($0)".contains("kind cnn and mlp"), "\($0)")
        }
        let faster = try DenoiseModel(config: model.net.config, stft: model.stft, sampleRate: 48000)
        XCTAssertThrowsError(try model.interpolated(toward: faster, weight: 0.5)) {
            XCTAssertTrue("\($0)".contains("sample rates differ (16000 and 48000 Hz)"), "\($0)")
        }
        for weight: Float in [-0.1, 1.5, .nan] {
            XCTAssertThrowsError(try model.interpolated(toward: model, weight: weight)) {
                XCTAssertTrue("\($0)".hasSuffix("is outside 0...1"), "\($0)")
            }
        }
    }
}
