@testable import DenoiseKit
import Foundation
import XCTest

/// `denoise blend` end to end: the blended model's output, and what it refuses.
final class BlendTests: XCTestCase {
    private var folder: URL!

    override func setUpWithError() throws {
        folder = try makeTemporaryDirectory()
    }

    private func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    /// Tiny models at `files`, the n-th (from 1) seeded n and recording a run of 10n epochs, best 9n, made by
    /// `denoise train --seed n`.
    private func writeTrainedModels(_ files: [String]) throws {
        for (file, seed) in zip(files, 1...) {
            let model = try DenoiseModel(config: Fixtures.tinyConfig(), stft: Fixtures.stft, seed: UInt64(seed))
            model.training = TrainingSummary(epochs: 10 * seed, bestEpoch: 9 * seed, validationLoss: 0.25,
                                             validationSISDRGain: 4.5, trainingPairs: 8, trainingSeconds: 30,
                                             command: "denoise train --seed \(seed)")
            try model.save(to: URL(fileURLWithPath: file))
        }
    }

    /// `info`'s rows by label, values without the alignment padding.
    private func infoRows(_ stdout: String) -> [String: String] {
        var rows: [String: String] = [:]
        for line in stdout.split(separator: "\n") {
            guard let colon = line.range(of: ": ") else { continue }
            rows[String(line[..<colon.lowerBound])] = line[colon.upperBound...].trimmingCharacters(in: .whitespaces)
        }
        return rows
    }

    /// Constant-mask models with output logits -20 and +20 blend at weight 0.5 into logit 0: a mask of exactly 0.5,
    /// so the output is half the input. At weight 0.75 the logit is +10, a mask of 1 - 4.5e-5. With --mask-exponent 2
    /// the blend at 0.5 applies 0.5² by default, and `info` shows it.
    func testBlendOfTwoConstantMasksAppliesTheMaskBetweenThem() throws {
        try Fixtures.writeConstantMaskModel(to: URL(fileURLWithPath: path("silencer.safetensors")), logit: -20)
        try Fixtures.writeConstantMaskModel(to: URL(fileURLWithPath: path("keeper.safetensors")), logit: 20)
        let source = URL(fileURLWithPath: path("in.wav"))
        try Fixtures.writeWAV(Fixtures.speechLike(seconds: 0.25, sampleRate: 16000), to: source)
        let expected = try Fixtures.pcm16Samples(source)

        for (weight, exponent, gain) in [(0.5, nil, 0.5), (0.75, nil, 1 / (1 + exp(-10.0))), (0.5, "2", 0.25)] {
            let name = "\(weight)-\(exponent ?? "1")"
            let blend = path("blend-\(name).safetensors"), output = path("out-\(name).wav")
            let made = try DenoiseRunner.run(["blend", "--weight", "\(weight)", "-o", blend]
                                                 + (exponent.map { ["--mask-exponent", $0] } ?? [])
                                                 + [path("silencer.safetensors"), path("keeper.safetensors")])
            XCTAssertEqual(made.status, 0, made.stderr)
            XCTAssertTrue(made.stderr.contains("\(Int(100 - weight * 100))% \(path("silencer.safetensors"))"),
                          made.stderr)
            let applied = try DenoiseRunner.run(["apply", "-m", blend, source.path, output])
            XCTAssertEqual(applied.status, 0, applied.stderr)
            let got = try Fixtures.pcm16Samples(URL(fileURLWithPath: output))
            XCTAssertEqual(got.count, expected.count)
            let worst = zip(got, expected).map { abs(Double($0) - gain * Double($1)) }.max() ?? .infinity
            XCTAssertLessThanOrEqual(worst, 1, "weight \(weight): output should be \(gain) × input to one step")
            if let exponent {
                let info = try DenoiseRunner.run(["info", blend])
                XCTAssertEqual(infoRows(info.stdout)["mask exponent"], "\(exponent) (apply's default)", info.stdout)
            }
        }
    }

    /// A model that masks everything away, blended with itself at `--atten-limit 20`: apply then keeps a tenth of
    /// the input by default, `--atten-limit 6` half, `--atten-limit none` nothing; `info` shows the setting.
    func testBlendSetsTheAttenuationLimitApplyUsesByDefault() throws {
        let silencer = path("silencer.safetensors"), limited = path("limited.safetensors")
        try Fixtures.writeConstantMaskModel(to: URL(fileURLWithPath: silencer), logit: -20)
        let made = try DenoiseRunner.run(["blend", "--atten-limit", "20", "-o", limited, silencer, silencer])
        XCTAssertEqual(made.status, 0, made.stderr)
        let source = URL(fileURLWithPath: path("in.wav"))
        try Fixtures.writeWAV(Fixtures.speechLike(seconds: 0.25, sampleRate: 16000), to: source)
        let expected = try Fixtures.pcm16Samples(source)

        for (limit, gain) in [(nil, 0.1), ("6", pow(10, -6.0 / 20)), ("none", 0)] as [(String?, Double)] {
            let output = path("out-\(limit ?? "default").wav")
            let applied = try DenoiseRunner.run(["apply", "-m", limited] + (limit.map { ["--atten-limit", $0] } ?? [])
                                                + [source.path, output])
            XCTAssertEqual(applied.status, 0, applied.stderr)
            let got = try Fixtures.pcm16Samples(URL(fileURLWithPath: output))
            XCTAssertEqual(got.count, expected.count)
            let worst = zip(got, expected).map { abs(Double($0) - gain * Double($1)) }.max() ?? .infinity
            XCTAssertLessThanOrEqual(worst, 1, "--atten-limit \(limit ?? "(the model's)"): output \(gain) × input")
        }
        let info = try DenoiseRunner.run(["info", limited])
        XCTAssertEqual(infoRows(info.stdout)["attenuation limit"], "20 dB (apply's default)", info.stdout)
        for (model, value) in [(limited, 20.0), (silencer, nil)] as [(String, Double?)] {
            let json = try DenoiseRunner.run(["info", "--json", model])
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
            XCTAssertEqual(object["attenuation_limit_db"] as? Double, value, json.stdout)
            XCTAssertNotNil(object["attenuation_limit_db"], "the key is there, null without a limit")
        }
        let unlimited = path("unlimited.safetensors")
        let lifted = try DenoiseRunner.run(["blend", "--atten-limit", "none", "-o", unlimited, silencer, limited])
        XCTAssertEqual(lifted.status, 0, lifted.stderr)
        XCTAssertNil(try DenoiseModel.load(url: URL(fileURLWithPath: unlimited)).attenuationLimitDB)
        XCTAssertEqual(try DenoiseModel.load(url: URL(fileURLWithPath: path("limited.safetensors")))
                           .attenuationLimitDB, 20)
        let refused = try DenoiseRunner.run(["blend", "--atten-limit", "-3", "-o", path("x.safetensors"), silencer,
                                             silencer])
        XCTAssertEqual(refused.status, 64, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("--atten-limit"), refused.stderr)
    }

    /// `blend --float16` writes the blend with float16 tensors: `info` says so, the file is about half the size of
    /// the float32 blend, and `apply` runs it.
    func testFloat16BlendIsHalfTheSizeAndInfoSaysHowItIsStored() throws {
        let first = path("a.safetensors"), second = path("b.safetensors")
        try writeTrainedModels([first, second])
        let wide = path("wide.safetensors"), narrow = path("narrow.safetensors")
        for (output, extra) in [(wide, [String]()), (narrow, ["--float16"])] {
            let made = try DenoiseRunner.run(["blend"] + extra + ["-o", output, first, second])
            XCTAssertEqual(made.status, 0, made.stderr)
        }
        // The bytes after the 8-byte header length and the JSON header.
        let tensorBytes = try [wide, narrow].map { file -> Int in
            let data = try Data(contentsOf: URL(fileURLWithPath: file))
            return data.count - 8 - data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        }
        XCTAssertEqual(2 * tensorBytes[1], tensorBytes[0], "the tensor data should halve")

        for (output, stored, dtype) in [(wide, "float32", "F32"), (narrow, "float16", "F16")] {
            let info = try DenoiseRunner.run(["info", output])
            XCTAssertEqual(info.status, 0, info.stderr)
            XCTAssertEqual(infoRows(info.stdout)["stored as"], stored, info.stdout)
            let json = try DenoiseRunner.run(["info", "--json", output])
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
            XCTAssertEqual(object["stored_as"] as? [String], [dtype])
        }
        let source = folder.appendingPathComponent("in.wav")
        try Fixtures.writeWAV(Fixtures.speechLike(seconds: 0.25, sampleRate: 16000), to: source)
        let applied = try DenoiseRunner.run(["apply", "-m", narrow, source.path, path("out.wav")])
        XCTAssertEqual(applied.status, 0, applied.stderr)
    }

    /// `info` on a blend says what it is and how to make it again: the weight, the blend command and each model's
    /// last training run.
    func testInfoOnABlendShowsTheWeightTheCommandAndBothModelsRuns() throws {
        let first = path("a.safetensors"), second = path("b.safetensors"), output = path("c.safetensors")
        try writeTrainedModels([first, second])
        let made = try DenoiseRunner.run(["blend", "--weight", "0.75", "-o", output, first, second])
        XCTAssertEqual(made.status, 0, made.stderr)

        let info = try DenoiseRunner.run(["info", output])
        XCTAssertEqual(info.status, 0, info.stderr)
        let rows = infoRows(info.stdout)
        XCTAssertEqual(rows["blend 1"], "25% of model 1.1, 75% of model 1.2: "
                                        + "denoise blend --weight 0.75 -o \(output) \(first) \(second)", info.stdout)
        XCTAssertEqual(rows["model 1.1"], "1 run; the last: 10 epochs, best 9 (val loss 0.25000, "
                                          + "SI-SDR gain +4.50 dB): denoise train --seed 1", info.stdout)
        XCTAssertEqual(rows["model 1.2"]?.hasPrefix("1 run; the last: 20 epochs, best 18"), true, info.stdout)
        XCTAssertFalse(info.stdout.contains("\ntrained:"), info.stdout)

        let json = try DenoiseRunner.run(["info", "--json", output])
        XCTAssertEqual(json.status, 0, json.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let blend = try XCTUnwrap(object["blend"] as? [String: Any])
        XCTAssertEqual(blend["weight"] as? Double, 0.75)
        XCTAssertEqual((blend["second"] as? [String: Any])?["command"] as? String, "denoise train --seed 2")
        XCTAssertNil(object["training"])
    }

    /// A blend of a blend keeps the inner record: `info` numbers it and shows its rows below the side it came from,
    /// and `--json` nests it as `first_blend`.
    func testInfoOnABlendOfABlendShowsTheInnerBlend() throws {
        let first = path("a.safetensors"), second = path("b.safetensors")
        let inner = path("c.safetensors"), outer = path("d.safetensors")
        try writeTrainedModels([first, second])
        for (output, sides) in [(inner, [first, second]), (outer, [inner, second])] {
            let made = try DenoiseRunner.run(["blend", "--weight", "0.5", "-o", output] + sides)
            XCTAssertEqual(made.status, 0, made.stderr)
        }

        let info = try DenoiseRunner.run(["info", outer])
        XCTAssertEqual(info.status, 0, info.stderr)
        let rows = infoRows(info.stdout)
        // Numbered oldest first: the inner blend is blend 1, the file's own blend 2.
        XCTAssertEqual(rows["model 2.1"], "blend 1 (below)", info.stdout)
        XCTAssertEqual(rows["blend 1"],
                       "50% of model 1.1, 50% of model 1.2: denoise blend --weight 0.5 -o \(inner) \(first) \(second)",
                       info.stdout)
        XCTAssertEqual(rows["model 1.1"]?.hasPrefix("1 run; the last: 10 epochs, best 9"), true, info.stdout)
        XCTAssertEqual(rows["model 1.2"]?.hasPrefix("1 run; the last: 20 epochs, best 18"), true, info.stdout)
        // The labels stay short: no wider than the model's own rows, so "normalisation" sets the column.
        XCTAssertTrue(info.stdout.contains("\nnormalisation: "), info.stdout)

        // Blended with a model trained from the same blend, the inner blend's rows come once.
        let tuned = try DenoiseModel.load(url: URL(fileURLWithPath: inner))
        tuned.training = TrainingSummary(epochs: 3, bestEpoch: 3, validationLoss: 0.25, validationSISDRGain: 4.5,
                                         trainingPairs: 8, trainingSeconds: 30, command: "denoise train --init c")
        let tunedFile = path("e.safetensors"), shared = path("f.safetensors")
        try tuned.save(to: URL(fileURLWithPath: tunedFile))
        let made = try DenoiseRunner.run(["blend", "-o", shared, inner, tunedFile])
        XCTAssertEqual(made.status, 0, made.stderr)
        let sharedInfo = try DenoiseRunner.run(["info", shared])
        let sharedRows = infoRows(sharedInfo.stdout)
        XCTAssertEqual(sharedRows["model 2.1"], "blend 1 (below)", sharedInfo.stdout)
        XCTAssertEqual(sharedRows["model 2.2"]?.hasPrefix("blend 1 (below), then 1 run; the last: 3 epochs"),
                       true, sharedInfo.stdout)
        XCTAssertEqual(sharedInfo.stdout.components(separatedBy: "\nblend 1:").count, 2, sharedInfo.stdout)
        XCTAssertNil(sharedRows["blend 3"], sharedInfo.stdout)
        let sharedJSON = try DenoiseRunner.run(["info", "--json", shared])
        let sharedBlend = try XCTUnwrap((JSONSerialization.jsonObject(with: Data(sharedJSON.stdout.utf8))
                                         as? [String: Any])?["blend"] as? [String: Any])
        XCTAssertEqual(sharedBlend["second_blend_index"] as? Int, 0, "the first side's record: blend 1 in the table")
        XCTAssertNil(sharedBlend["second_blend"])
        XCTAssertNotNil(sharedBlend["first_blend"] as? [String: Any])

        let json = try DenoiseRunner.run(["info", "--json", outer])
        XCTAssertEqual(json.status, 0, json.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let blend = try XCTUnwrap(object["blend"] as? [String: Any])
        XCTAssertNil(blend["first"])
        let innerRecord = try XCTUnwrap(blend["first_blend"] as? [String: Any])
        XCTAssertEqual((innerRecord["first"] as? [String: Any])?["command"] as? String, "denoise train --seed 1")
        XCTAssertNil(blend["second_blend"])
    }

    /// Blends four deep: the table shows the last two levels and counts the two older records, which
    /// `--history` lists, each once. A record has the same number in both.
    func testInfoCountsOlderBlendsUnlessAskedForTheHistory() throws {
        let trained = ["a", "b"].map { path("\($0).safetensors") }
        try writeTrainedModels(trained)
        var newest = trained[0]
        for level in 1...4 {
            let output = path("level\(level).safetensors")
            let made = try DenoiseRunner.run(["blend", "--weight", "0.5", "-o", output, newest, trained[1]])
            XCTAssertEqual(made.status, 0, made.stderr)
            newest = output
        }

        let info = try DenoiseRunner.run(["info", newest])
        XCTAssertEqual(info.status, 0, info.stderr)
        let rows = infoRows(info.stdout)
        XCTAssertNotNil(rows["blend 3"], info.stdout)
        XCTAssertEqual(rows["model 3.1"], "blend 2 (an older blend)", info.stdout)
        XCTAssertNil(rows["blend 2"], info.stdout)
        XCTAssertEqual(rows["older blends"], "2 more, inside the rows above (info --history lists them)", info.stdout)

        let history = try DenoiseRunner.run(["info", "--history", newest])
        XCTAssertEqual(history.status, 0, history.stderr)
        let all = infoRows(history.stdout)
        XCTAssertEqual(all["model 3.1"], "blend 2 (below)", history.stdout)
        XCTAssertEqual(all["blend 1"]?.hasPrefix("50% of model 1.1, 50% of model 1.2: denoise blend --weight 0.5 -o "
                                                 + "\(path("level1.safetensors"))"),
                       true, history.stdout)
        XCTAssertNil(all["older blends"], history.stdout)
        XCTAssertEqual(all.keys.filter { $0.hasPrefix("blend ") }.count, 4, history.stdout)
    }

    /// Thirty generations of soups, each the file blended with two rounds trained from it: as a tree, 3^30 records.
    /// The table, `--history` and `--json` give each of the 61 stored records once, and a record met again as its
    /// number or index. Labels stay short: records are numbered oldest first, the first file's is "blend 1".
    func testInfoGivesEachRecordOfALongSoupHistoryOnce() throws {
        let generations = 30
        var file = BlendSummary(weight: 0.5, command: "denoise blend -o f0 a b", first: nil, second: nil)
        for g in 1...generations {
            let rounds = BlendSummary(weight: 0.5, command: "denoise blend -o u\(g) r\(g)a r\(g)b", first: nil,
                                      second: nil, firstBlend: file, secondBlend: file)
            file = BlendSummary(weight: 0.5, command: "denoise blend -o f\(g) f\(g - 1) u\(g)", first: nil,
                                second: nil, firstBlend: file, secondBlend: rounds)
        }
        let records = 2 * generations + 1
        XCTAssertEqual(file.storedRecords.count, records)
        let model = try DenoiseModel(config: Fixtures.tinyConfig(), stft: Fixtures.stft, seed: 1)
        model.blend = file
        let output = path("soup.safetensors")
        try model.save(to: URL(fileURLWithPath: output))

        let info = try DenoiseRunner.run(["info", output])
        XCTAssertEqual(info.status, 0, info.stderr)
        // Shown: the file's record and its two sides' (the last file's and the last rounds', which started from it).
        let rows = infoRows(info.stdout)
        XCTAssertEqual(rows["older blends"], "\(records - 3) more, inside the rows above (info --history lists them)",
                       info.stdout)
        XCTAssertEqual(rows["model 61.2"], "blend 60 (below)", info.stdout)
        XCTAssertEqual(rows["model 60.1"], "blend 59 (above)", info.stdout)
        XCTAssertEqual(rows["model 59.1"], "blend 57 (an older blend)", info.stdout)

        let history = try DenoiseRunner.run(["info", "--history", output])
        XCTAssertEqual(history.status, 0, history.stderr)
        let lines = history.stdout.split(separator: "\n")
        let blendRows = lines.filter { $0.hasPrefix("blend ") }
        XCTAssertEqual(blendRows.count, records, history.stdout)
        XCTAssertEqual(Set(blendRows.map { $0.prefix { $0 != ":" } }).count, records, "each number once")
        XCTAssertEqual(blendRows.filter { $0.hasSuffix("denoise blend -o f0 a b") }.map { $0.prefix(8) }, ["blend 1:"],
                       history.stdout)
        // Each generation's rounds started from the file before them: both their sides point back to it.
        XCTAssertEqual(lines.filter { $0.hasPrefix("model ") && $0.hasSuffix("(above)") }.count, 2 * generations,
                       history.stdout)
        XCTAssertNil(infoRows(history.stdout)["older blends"], history.stdout)

        let json = try DenoiseRunner.run(["info", "--json", output])
        XCTAssertEqual(json.status, 0, json.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        var (written, indices) = (0, [Int]())
        func walk(_ record: [String: Any]) {
            written += 1
            for side in ["first_blend", "second_blend"] {
                if let inner = record[side] as? [String: Any] { walk(inner) }
                if let index = record[side + "_index"] as? Int { indices.append(index) }
            }
        }
        walk(try XCTUnwrap(object["blend"] as? [String: Any]))
        XCTAssertEqual(written, records)
        XCTAssertEqual(indices.count, 2 * generations)
        XCTAssertTrue(indices.allSatisfy { (0..<records).contains($0) }, "\(indices)")
    }

    func testRefusesToReplaceFilesUnlessForcedAndNeverAnInput() throws {
        let first = path("a.safetensors"), second = path("b.safetensors"), output = path("c.safetensors")
        try Fixtures.writeTinyModel(to: URL(fileURLWithPath: first), seed: 1)
        try Fixtures.writeTinyModel(to: URL(fileURLWithPath: second), seed: 2)
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: output))

        let refused = try DenoiseRunner.run(["blend", "-o", output, first, second])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.contains("\(output): already exists"), refused.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: output)), Data("keep me".utf8))

        let forced = try DenoiseRunner.run(["blend", "--force", "-o", output, first, second])
        XCTAssertEqual(forced.status, 0, forced.stderr)
        XCTAssertEqual(try DenoiseModel.load(url: URL(fileURLWithPath: output)).net.config, Fixtures.tinyConfig())

        let before = try Data(contentsOf: URL(fileURLWithPath: second))
        let overInput = try DenoiseRunner.run(["blend", "--force", "-o", second, first, second])
        XCTAssertEqual(overInput.status, 1)
        XCTAssertTrue(overInput.stderr.contains("refusing to overwrite an input"), overInput.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: second)), before)
    }

    func testBadWeightIsAUsageErrorAndMismatchedModelsWriteNothing() throws {
        let first = path("a.safetensors"), headed = path("h.safetensors"), output = path("out.safetensors")
        try Fixtures.writeTinyModel(to: URL(fileURLWithPath: first))
        try Fixtures.writeTinyModel(to: URL(fileURLWithPath: headed), speechHead: true)

        let weight = try DenoiseRunner.run(["blend", "--weight", "1.5", "-o", output, first, headed])
        XCTAssertEqual(weight.status, 64)
        XCTAssertTrue(weight.stderr.contains("--weight 1.5 is outside 0...1"), weight.stderr)

        let other = try DenoiseModel(config: Fixtures.tinyConfig(), stft: Fixtures.stft, sampleRate: 8000)
        try other.save(to: URL(fileURLWithPath: path("slow.safetensors")))
        let mismatch = try DenoiseRunner.run(["blend", "-o", output, first, path("slow.safetensors")])
        XCTAssertEqual(mismatch.status, 1)
        XCTAssertTrue(mismatch.stderr.contains("\(first) and \(path("slow.safetensors")): the models cannot be "
                                               + "interpolated: their sample rates differ (16000 and 8000 Hz)"),
                      mismatch.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: output))

        // A head only one of them has is kept.
        let kept = try DenoiseRunner.run(["blend", "-o", output, first, headed])
        XCTAssertEqual(kept.status, 0, kept.stderr)
        XCTAssertTrue(try DenoiseModel.load(url: URL(fileURLWithPath: output)).hasSpeechHead)
    }
}
