@testable import DenoiseKit
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest

/// `denoise train` and `denoise eval` end to end on a tiny corpus written by the test: six pairs of 0.5 s
/// speech-like tones (clean) and the same plus white noise (noisy), 16 kHz.
final class TrainEvalTests: XCTestCase {
    private var folder: URL!
    private var noisy: URL!
    private var clean: URL!

    /// Uniform noise of this amplitude is added to the clean signal to make the noisy one.
    private let noiseLevel = 0.1

    override func setUpWithError() throws {
        folder = try makeTemporaryDirectory()
        noisy = folder.appendingPathComponent("noisy")
        clean = folder.appendingPathComponent("clean")
        try writeCorpus(noiseScale: 1, into: noisy, format: .pcm16)
        try writeCorpus(noiseScale: 0, into: clean, format: .pcm16)
    }

    /// u0.wav … u5.wav: clean speech-like signal plus `noiseScale` × the pair's own noise.
    private func writeCorpus(noiseScale: Double, into directory: URL, format: WAVSampleFormat) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for index in 0..<6 {
            let speech = Fixtures.speechLike(seconds: 0.5, sampleRate: 16000, seed: UInt64(index), noise: 0)
            var rng = SplitMix(seed: 100 + UInt64(index))
            let mixed = speech.channels[0].map { $0 + Float(noiseScale * noiseLevel * rng.uniform()) }
            try Fixtures.writeWAV(AudioBuffer(mono: mixed, sampleRate: 16000),
                                  to: directory.appendingPathComponent("u\(index).wav"), format: format)
        }
    }

    private func train(_ run: URL, epochs: Int, _ extra: [String] = [],
                       file: StaticString = #filePath, line: UInt = #line) throws -> RunResult {
        // A resumed run takes its architecture from the checkpoint (and refuses --arch).
        let arch = extra.contains("--resume") ? [] : ["--arch", "mlp"]
        return try DenoiseRunner.run(["train", "--noisy", noisy.path, "--clean", clean.path, "-o", run.path,
                                      "--epochs", "\(epochs)", "--batch-size", "2", "--schedule", "none", "--quiet"]
                                         + arch + extra,
                                     timeout: 120, file: file, line: line)
    }

    /// The model file is written at the best epoch; once the run ends its summary counts every epoch. With a
    /// learning rate too small to move a weight, every epoch validates alike and the first stays the best.
    func testModelSummaryCountsTheWholeRunNotJustItsBestEpoch() throws {
        let run = folder.appendingPathComponent("still")
        XCTAssertEqual(try train(run, epochs: 3, ["--lr", "1e-30"]).status, 0)
        let summary = try XCTUnwrap(DenoiseModel.load(url: run.appendingPathComponent("model.safetensors")).training)
        XCTAssertEqual(summary.bestEpoch, 1)
        XCTAssertEqual(summary.epochs, 3)
        let seconds = try String(contentsOf: run.appendingPathComponent("metrics.csv"), encoding: .utf8)
            .split(separator: "\n").dropFirst().compactMap { Double($0.split(separator: ",")[5]) }
        XCTAssertEqual(seconds.count, 3)
        XCTAssertEqual(summary.trainingSeconds, seconds.reduce(0, +), accuracy: 0.05)
    }

    /// One epoch of a CNN of width 8 (blocks of dilation 1 and 2 unless `options` say otherwise) into `run`.
    private func trainTinyCNN(_ run: URL, _ options: [String]) throws -> RunResult {
        let dilations = options.contains("--dilations") ? [] : ["--dilations", "1,2"]
        return try DenoiseRunner.run(["train", "--noisy", noisy.path, "--clean", clean.path, "-o", run.path,
                                      "--epochs", "1", "--batch-size", "2", "--quiet", "--width", "8"]
                                         + dilations + options, timeout: 120)
    }

    /// The model file of a one-epoch tiny residual CNN run in `name`, for tests that start from a trained model or
    /// learn from one.
    private func trainedResidualModel(_ name: String) throws -> URL {
        let run = folder.appendingPathComponent(name)
        let result = try trainTinyCNN(run, ["--residual"])
        XCTAssertEqual(result.status, 0, result.stderr)
        return run.appendingPathComponent("model.safetensors")
    }

    /// One epoch from the model at `start` into `run` at a vanishing learning rate, so that the weights stay as
    /// `options` (a growth) leave them.
    private func trainStill(_ run: URL, from start: URL, _ options: [String]) throws -> RunResult {
        try DenoiseRunner.run(["train", "--noisy", noisy.path, "--clean", clean.path, "-o", run.path, "--epochs", "1",
                               "--batch-size", "2", "--lr", "1e-12", "--init", start.path] + options, timeout: 120)
    }

    /// Rows of metrics.csv without the timing columns (seconds, frames/s), which differ from run to run.
    private func metricRows(_ run: URL) throws -> [[String]] {
        let text = try String(contentsOf: run.appendingPathComponent("metrics.csv"), encoding: .utf8)
        return text.split(separator: "\n").dropFirst().map { $0.split(separator: ",").prefix(5).map(String.init) }
    }

    /// Every file of a run folder and its bytes.
    private func snapshot(_ run: URL) throws -> [String: Data] {
        var files: [String: Data] = [:]
        for name in Fixtures.tree(run) { files[name] = try Data(contentsOf: run.appendingPathComponent(name)) }
        return files
    }

    // MARK: - train

    func testTrainWritesModelCheckpointMetricsPlotAndConfig() throws {
        let run = folder.appendingPathComponent("run")
        let started = Date()
        let result = try train(run, epochs: 2)
        let seconds = Date().timeIntervalSince(started)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout, "")
        XCTAssertEqual(result.stderr, "", "--quiet prints only errors")
        XCTAssertLessThan(seconds, 60, "two epochs of 5 short pairs took \(seconds) s")

        XCTAssertEqual(Fixtures.tree(run),
                       ["checkpoint.safetensors", "config.json", "loss.svg", "metrics.csv", "model.safetensors",
                        "validation.txt"])
        let model = try DenoiseModel.load(url: run.appendingPathComponent("model.safetensors"))
        XCTAssertEqual(model.net.config.kind, .mlp)
        XCTAssertEqual(model.sampleRate, 16000)
        let summary = try XCTUnwrap(model.training, "the model records how it was trained")
        XCTAssertEqual(summary.trainingPairs, 5, "6 pairs with a 0.1 validation split leave 5 for training")
        XCTAssertEqual(summary.epochs, 2)
        XCTAssertTrue((1...2).contains(summary.bestEpoch))
        _ = try DenoiseModel.load(url: run.appendingPathComponent("checkpoint.safetensors"))

        let csv = try String(contentsOf: run.appendingPathComponent("metrics.csv"), encoding: .utf8)
        let lines = csv.split(separator: "\n")
        XCTAssertEqual(lines.count, 3, csv)
        XCTAssertEqual(lines.first,
                       "epoch,train_loss,val_loss,val_sisdr_gain_db,lr,seconds,frames_per_second,val_speech_auc")
        for (index, line) in lines.dropFirst().enumerated() {
            let fields = line.split(separator: ",").map(String.init)
            // The tones are speech in every frame: with one class only, the speech AUC column stays empty.
            XCTAssertEqual(fields.count, 7, String(line))
            XCTAssertTrue(line.hasSuffix(","), String(line))
            XCTAssertEqual(fields.first, "\(index + 1)")
            for field in fields { XCTAssertNotNil(Double(field), "not a number: \(field) in \(line)") }
            XCTAssertTrue(Double(fields[1]).map { $0.isFinite && $0 > 0 } ?? false, "train loss \(fields[1])")
        }

        let svg = try XMLDocument(contentsOf: run.appendingPathComponent("loss.svg"), options: [])
        XCTAssertEqual(svg.rootElement()?.name, "svg")
        XCTAssertFalse(try svg.nodes(forXPath: "//*[local-name()='polyline']").isEmpty, "the plot draws lines")

        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("config.json")))
        let object = try XCTUnwrap(config as? [String: Any])
        XCTAssertEqual((object["masknet"] as? [String: Any])?["kind"] as? String, "mlp")
        XCTAssertEqual(object["sample_rate"] as? Int, 16000)
        XCTAssertEqual((object["training"] as? [String: Any])?["epochs"] as? Int, 2)
        XCTAssertEqual((object["training"] as? [String: Any])?["batchSize"] as? Int, 2)
    }

    /// `train --float16` changes how the model file stores its weights and nothing else: the same run without it
    /// writes a model whose every weight, rounded to float16, is the float16 file's, and the same checkpoint, kept in
    /// float32 so that --resume continues from the weights as they were.
    func testFloat16StoresTheModelRoundedAndKeepsTheCheckpointInFloat32() throws {
        let wide = folder.appendingPathComponent("wide"), narrow = folder.appendingPathComponent("narrow")
        XCTAssertEqual(try train(wide, epochs: 2).status, 0)
        let result = try train(narrow, epochs: 2, ["--float16"])
        XCTAssertEqual(result.status, 0, result.stderr)

        let models = try [wide, narrow].map {
            try SafeTensors.read(url: $0.appendingPathComponent("model.safetensors"))
        }
        XCTAssertEqual(Set(models[1].tensors.keys), Set(models[0].tensors.keys))
        XCTAssertFalse(models[1].tensors.isEmpty)
        for (name, tensor) in models[1].tensors {
            let full = try XCTUnwrap(models[0].tensors[name])
            XCTAssertEqual(full.precision, .float32, name)
            XCTAssertEqual(tensor.precision, .float16, name)
            XCTAssertEqual(tensor.values, full.values.map { Float(Float16($0)) }, name)
        }
        let checkpoints = try [wide, narrow].map {
            try SafeTensors.read(url: $0.appendingPathComponent("checkpoint.safetensors"))
        }
        XCTAssertEqual(checkpoints[1].tensors, checkpoints[0].tensors)
        XCTAssertTrue(checkpoints[1].tensors.values.allSatisfy { $0.precision == .float32 })
    }

    /// Training on continues exactly where it stopped: resuming a 2-epoch run to 3 epochs adds one row,
    /// and that row equals the third epoch of an uninterrupted 3-epoch run (optimizer, schedule and random
    /// state all come back from the checkpoint). Training into the run again without --resume is refused
    /// and changes nothing.
    func testResumeAddsOneEpochIdenticalToAnUninterruptedRunAndARunIsNeverOverwritten() throws {
        let run = folder.appendingPathComponent("run")
        XCTAssertEqual(try train(run, epochs: 2).status, 0)
        let before = try snapshot(run)

        let again = try train(run, epochs: 3)
        XCTAssertEqual(again.status, 1, again.stderr)
        XCTAssertEqual(again.stderrLines.count, 1, again.stderr)
        XCTAssertTrue(again.stderr.contains(run.path) && again.stderr.contains("--resume"), again.stderr)
        XCTAssertEqual(try snapshot(run), before, "a refused run must leave the folder as it was")

        let changed = try DenoiseRunner.run(["train", "--noisy", noisy.path, "--clean", clean.path, "-o", run.path,
                                             "--epochs", "3", "--resume", "--norm", "group"], timeout: 60)
        XCTAssertEqual(changed.status, 64, changed.stderr)
        XCTAssertTrue(changed.stderr.contains("--norm") && changed.stderr.contains("checkpoint"), changed.stderr)

        let firstTwo = try metricRows(run)
        let resumed = try train(run, epochs: 3, ["--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(resumed.stderr, "")
        let rows = try metricRows(run)
        XCTAssertEqual(rows.count, 3)
        XCTAssertEqual(Array(rows.prefix(2)), firstTwo, "earlier epochs are kept as they were")
        XCTAssertEqual(rows.last?.first, "3")

        let straight = folder.appendingPathComponent("straight")
        XCTAssertEqual(try train(straight, epochs: 3).status, 0)
        XCTAssertEqual(rows, try metricRows(straight), "resumed training must continue exactly")
    }

    /// The validation pairs are drawn by --val-seed alone: a run with another --seed validates on the same pairs,
    /// another --val-seed draws others, and RUN_DIR/validation.txt lists them. Resuming with other pairs is refused
    /// before anything in the run changes.
    func testValSeedAloneDrawsTheValidationPairsAndAResumeMustKeepThem() throws {
        func validationList(_ run: URL) throws -> [String] {
            try String(contentsOf: run.appendingPathComponent("validation.txt"), encoding: .utf8)
                .split(separator: "\n").map(String.init)
        }
        let split = ["--val-split", "0.5"]
        let (seed1, seed2, valSeed2) = (folder.appendingPathComponent("seed1"), folder.appendingPathComponent("seed2"),
                                        folder.appendingPathComponent("valseed2"))
        XCTAssertEqual(try train(seed1, epochs: 1, split + ["--seed", "1"]).status, 0)
        XCTAssertEqual(try train(seed2, epochs: 1, split + ["--seed", "2"]).status, 0)
        XCTAssertEqual(try train(valSeed2, epochs: 1, split + ["--val-seed", "2"]).status, 0)

        let pairs = (0..<6).map { "u\($0).wav" }
        let first = try validationList(seed1)
        XCTAssertEqual(first.count, 3)
        XCTAssertTrue(Set(first).isSubset(of: pairs), "\(first)")
        XCTAssertEqual(try validationList(seed2), first)
        XCTAssertNotEqual(try validationList(valSeed2), first)

        let before = try snapshot(seed1)
        let refused = try train(seed1, epochs: 2, split + ["--resume", "--val-seed", "2"])
        XCTAssertEqual(refused.status, 1, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("validation.txt") && refused.stderr.contains("--val-seed"),
                      refused.stderr)
        XCTAssertEqual(try snapshot(seed1), before, "a refused resume leaves the run as it was")
        XCTAssertEqual(try train(seed1, epochs: 2, split + ["--resume"]).status, 0)
        XCTAssertEqual(try validationList(seed1), first)
    }

    /// Leave-noise-out validation: --val-speakers holds out whole speakers (by file name), --val-noise remixes their
    /// clean side with held-out noise, and --save-validation writes the pairs as scored. The rooms, telephone,
    /// level and clipping augmentations run alongside with measured responses from --rir. A --noise recording that is
    /// also validation noise is refused.
    func testValSpeakersAndValNoiseValidateOnHeldOutSpeakersAndNoise() throws {
        let corpus = folder.appendingPathComponent("speakers")
        let speakers = ["anna", "bert", "carl"]
        let heldOutNoise = folder.appendingPathComponent("heldout-noise")
        let rooms = folder.appendingPathComponent("rooms")
        for sub in [corpus.appendingPathComponent("clean"), corpus.appendingPathComponent("noisy"), heldOutNoise,
                    rooms] {
            try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
        }
        for (s, speaker) in speakers.enumerated() {
            for take in 1...2 {
                let speech = Fixtures.speechLike(seconds: 0.5, sampleRate: 16000, seed: UInt64(10 * s + take), noise: 0)
                var rng = SplitMix(seed: UInt64(100 * s + take))
                let noisySpeech = speech.channels[0].map { $0 + Float(0.1 * rng.uniform()) }
                let name = "\(speaker)_00\(take).wav"
                try Fixtures.writeWAV(speech, to: corpus.appendingPathComponent("clean/" + name))
                try Fixtures.writeWAV(AudioBuffer(mono: noisySpeech, sampleRate: 16000),
                                      to: corpus.appendingPathComponent("noisy/" + name))
            }
        }
        var rng = SplitMix(seed: 7)
        for name in ["hiss_01.wav", "hiss_02.wav", "rumble_01.wav"] {
            let samples = (0..<4000).map { _ in Float(0.2 * rng.uniform() - 0.1) }
            try Fixtures.writeWAV(AudioBuffer(mono: samples, sampleRate: 16000),
                                  to: heldOutNoise.appendingPathComponent(name))
        }
        try Fixtures.writeWAV(AudioBuffer(mono: [0, 0, 1, 0.5, -0.3, 0.2, 0.1, -0.05], sampleRate: 16000),
                              to: rooms.appendingPathComponent("room.wav"))

        let run = folder.appendingPathComponent("leave-out")
        let result = try DenoiseRunner.run(
            ["train", "--noisy", corpus.appendingPathComponent("noisy").path,
             "--clean", corpus.appendingPathComponent("clean").path, "-o", run.path, "--arch", "mlp", "--epochs", "1",
             "--batch-size", "2", "--val-speakers", "bert", "--val-noise", heldOutNoise.path, "--save-validation",
             "--rir", rooms.path, "--reverb", "1", "--narrowband", "0.5", "--level", "1", "--clipping", "0.5"],
            timeout: 120)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("training on 4 pairs") && result.stderr.contains("validating on 2"),
                      result.stderr)
        XCTAssertTrue(result.stderr.contains("2 categories (hiss, rumble)"), result.stderr)
        let mixes = try String(contentsOf: run.appendingPathComponent("validation-noise.csv"), encoding: .utf8)
            .split(separator: "\n")
        XCTAssertEqual(mixes.first, "file,noise,category,offset_samples,snr_db")
        XCTAssertEqual(mixes.dropFirst().map { $0.split(separator: ",")[0] }, ["bert_001.wav", "bert_002.wav"])
        let listed = try String(contentsOf: run.appendingPathComponent("validation.txt"), encoding: .utf8)
        XCTAssertEqual(listed.split(separator: "\n"), ["bert_001.wav", "bert_002.wav"])
        for name in ["bert_001.wav", "bert_002.wav"] {
            let (noisy, _) = try WAVReader.read(url: run.appendingPathComponent("validation/noisy/" + name))
            let (clean, _) = try WAVReader.read(url: run.appendingPathComponent("validation/clean/" + name))
            let (original, _) = try WAVReader.read(url: corpus.appendingPathComponent("noisy/" + name))
            XCTAssertEqual(noisy.frameCount, clean.frameCount)
            XCTAssertNotEqual(noisy.channels[0], clean.channels[0], "held-out noise is mixed in")
            XCTAssertNotEqual(noisy.channels[0].map { ($0 * 32768).rounded() / 32768 }, original.channels[0],
                              "the pair's own noisy side is not used")
        }

        // A resume must validate on the same mixes: other SNRs, or no held-out noise, are refused.
        let base = ["train", "--noisy", corpus.appendingPathComponent("noisy").path,
                    "--clean", corpus.appendingPathComponent("clean").path, "-o", run.path, "--epochs", "2",
                    "--batch-size", "2", "--val-speakers", "bert", "--resume", "--quiet"]
        let otherSNRs = try DenoiseRunner.run(base + ["--val-noise", heldOutNoise.path, "--val-snrs", "3"],
                                              timeout: 60)
        XCTAssertEqual(otherSNRs.status, 1)
        XCTAssertTrue(otherSNRs.stderr.contains("validation-noise.csv: the run validated on other noise mixes"),
                      otherSNRs.stderr)
        let noNoise = try DenoiseRunner.run(base, timeout: 60)
        XCTAssertEqual(noNoise.status, 1)
        XCTAssertTrue(noNoise.stderr.contains("validation-noise.csv: the run validated on other noise mixes"),
                      noNoise.stderr)
        let same = try DenoiseRunner.run(base + ["--val-noise", heldOutNoise.path], timeout: 120)
        XCTAssertEqual(same.status, 0, same.stderr)

        // A training noise folder holding one of the validation recordings (a copy under another name) is refused
        // before any run folder is made.
        let trainingNoise = folder.appendingPathComponent("training-noise")
        try FileManager.default.createDirectory(at: trainingNoise, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: heldOutNoise.appendingPathComponent("hiss_02.wav"),
                                         to: trainingNoise.appendingPathComponent("fan_01.wav"))
        let contaminated = folder.appendingPathComponent("contaminated")
        let overlap = try DenoiseRunner.run(
            ["train", "--noisy", corpus.appendingPathComponent("noisy").path,
             "--clean", corpus.appendingPathComponent("clean").path, "-o", contaminated.path, "--arch", "mlp",
             "--epochs", "1", "--val-speakers", "bert", "--val-noise", heldOutNoise.path,
             "--noise", trainingNoise.path, "--quiet"], timeout: 60)
        XCTAssertEqual(overlap.status, 1)
        XCTAssertTrue(overlap.stderr.contains(trainingNoise.appendingPathComponent("fan_01.wav").path)
                      && overlap.stderr.contains(heldOutNoise.appendingPathComponent("hiss_02.wav").path)
                      && overlap.stderr.contains("validation noise must be noise training never hears"),
                      overlap.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: contaminated.path))

        let unknown = try DenoiseRunner.run(
            ["train", "--noisy", corpus.appendingPathComponent("noisy").path,
             "--clean", corpus.appendingPathComponent("clean").path, "-o", folder.appendingPathComponent("x").path,
             "--val-speakers", "dora", "--quiet"], timeout: 60)
        XCTAssertEqual(unknown.status, 1)
        XCTAssertTrue(unknown.stderr.contains("'dora_'"), unknown.stderr)
    }

    /// --init starts a new run from a model's weights and architecture: with a vanishing learning rate the weights
    /// come out as they went in (a fresh model with the same seed would not match), and the architecture options
    /// are refused with it.
    func testInitStartsFromTheGivenModel() throws {
        let first = folder.appendingPathComponent("first")
        XCTAssertEqual(try train(first, epochs: 2).status, 0)
        let model = first.appendingPathComponent("model.safetensors")
        let tuned = folder.appendingPathComponent("tuned")
        let result = try DenoiseRunner.run(["train", "--noisy", noisy.path, "--clean", clean.path, "-o", tuned.path,
                                            "--epochs", "1", "--batch-size", "2", "--lr", "1e-12", "--init", model.path,
                                            "--mask-exponent", "0.8", "--quiet"], timeout: 120)
        XCTAssertEqual(result.status, 0, result.stderr)
        let before = try SafeTensors.read(url: model),
            after = try SafeTensors.read(url: tuned.appendingPathComponent("model.safetensors"))
        let fresh = try DenoiseModel(config: DenoiseModel.load(url: model).net.config, sampleRate: 16000, seed: 1)
        for name in ["hidden0.linear.weight", "output.linear.weight"] {
            guard let original = before.tensors[name]?.values, let continued = after.tensors[name]?.values,
                  let initial = fresh.safeTensors().tensors[name]?.values
            else { return XCTFail("no tensor \(name)") }
            XCTAssertEqual(original.count, continued.count)
            XCTAssertLessThan(zip(original, continued).map { abs($0 - $1) }.max() ?? 1, 1e-6, name)
            XCTAssertGreaterThan(zip(original, initial).map { abs($0 - $1) }.max() ?? 0, 1e-3, name)
        }

        // The tuned model remembers the run it started from, and `info` lists it before its own.
        let parent = try XCTUnwrap(DenoiseModel.load(url: model).training)
        let summary = try XCTUnwrap(DenoiseModel.load(url: tuned.appendingPathComponent("model.safetensors")).training)
        XCTAssertEqual(summary.earlierRuns, [parent])
        XCTAssertEqual(summary.epochs, 1)
        let info = try DenoiseRunner.run(["info", tuned.appendingPathComponent("model.safetensors").path], timeout: 60)
        XCTAssertEqual(info.status, 0, info.stderr)
        let runLine = try XCTUnwrap(info.stdout.split(separator: "\n").first { $0.hasPrefix("run 1:") })
        XCTAssertTrue(runLine.contains("2 epochs") && runLine.contains(parent.command), String(runLine))
        XCTAssertTrue(info.stdout.contains("(run 2, from run 1)"), info.stdout)
        // The mask exponent given to train is the tuned model's default for apply.
        XCTAssertEqual(try DenoiseModel.load(url: model).maskExponent, 1)
        XCTAssertEqual(try DenoiseModel.load(url: tuned.appendingPathComponent("model.safetensors")).maskExponent, 0.8)
        XCTAssertTrue(info.stdout.contains("mask exponent: 0.8 (apply's default)"), info.stdout)

        let refused = try DenoiseRunner.run(["train", "--noisy", noisy.path, "--clean", clean.path, "-o",
                                             folder.appendingPathComponent("other").path, "--init", model.path,
                                             "--arch", "cnn"], timeout: 60)
        XCTAssertEqual(refused.status, 64, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("--arch") && refused.stderr.contains("--init"), refused.stderr)
    }

    func testArchitectureOptionsShapeTheModel() throws {
        let run = folder.appendingPathComponent("shaped")
        let result = try trainTinyCNN(run, ["--dilations", "1,3,2", "--kernel", "3", "--input-norm", "layer"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let config = try DenoiseModel.load(url: run.appendingPathComponent("model.safetensors")).net.config
        XCTAssertEqual(config.kind, .cnn)
        XCTAssertEqual(config.hidden, 8)
        XCTAssertEqual(config.dilations, [1, 3, 2])
        XCTAssertEqual(config.kernelSize, 3)
        XCTAssertEqual(config.inputNorm, .layer)
    }

    /// --add-blocks grows the --init model: the run's model has the extra block (and its look-ahead), keeps every
    /// tensor of the start (with a vanishing learning rate), and `info` shows the larger network. A network without
    /// skip connections is refused, naming the file, and no run folder is left.
    func testAddBlocksGrowsTheInitModel() throws {
        let start = try trainedResidualModel("small")
        let grown = folder.appendingPathComponent("grown")
        let result = try trainStill(grown, from: start, ["--add-blocks", "4"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("adding 1 residual block(s) of dilation 4"), result.stderr)
        let before = try DenoiseModel.load(url: start)
        let after = try DenoiseModel.load(url: grown.appendingPathComponent("model.safetensors"))
        XCTAssertEqual(after.net.config.dilations, [1, 2, 4])
        XCTAssertEqual(after.net.config.lookAheadFrames, before.net.config.lookAheadFrames + 4 * (5 - 1) / 2)
        let beforeFile = before.safeTensors(), afterFile = after.safeTensors()
        for (name, tensor) in beforeFile.tensors {
            let kept = try XCTUnwrap(afterFile.tensors[name]?.values, name)
            XCTAssertLessThan(zip(tensor.values, kept).map { abs($0 - $1) }.max() ?? 1, 1e-6, name)
        }
        XCTAssertNotNil(afterFile.tensors["block2.conv.weight"])
        let info = try DenoiseRunner.run(["info", grown.appendingPathComponent("model.safetensors").path], timeout: 60)
        XCTAssertTrue(info.stdout.contains("3 residual blocks of 8 channels, kernel 5, dilations 1,2,4"), info.stdout)
        XCTAssertTrue(info.stdout.contains("1 epoch, best 1 ("), info.stdout)

        try assertGrowthRefused(startOptions: [], ["--add-blocks", "1"], saying: "skip connections")
    }

    /// A tiny CNN trained with `startOptions`, then grown by `options`: refused, the error naming the start's file
    /// and `reason`, and no run folder left.
    private func assertGrowthRefused(startOptions: [String], _ options: [String], saying reason: String,
                                     file: StaticString = #filePath, line: UInt = #line) throws {
        let start = folder.appendingPathComponent("ungrowable")
        XCTAssertEqual(try trainTinyCNN(start, startOptions).status, 0, file: file, line: line)
        let refusedRun = folder.appendingPathComponent("refused")
        let refused = try DenoiseRunner.run(["train", "--noisy", noisy.path, "--clean", clean.path, "-o",
                                             refusedRun.path, "--epochs", "1", "--init",
                                             start.appendingPathComponent("model.safetensors").path] + options,
                                            timeout: 60)
        XCTAssertNotEqual(refused.status, 0, file: file, line: line)
        XCTAssertTrue(refused.stderr.contains("ungrowable/model.safetensors") && refused.stderr.contains(reason),
                      refused.stderr, file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: refusedRun.path), file: file, line: line)
    }

    /// --floor-bands adds the noise-floor input: to a new network as built, and to an --init model with zero weights
    /// (so, with a vanishing learning rate, the run's masks are the start's); `info` shows it and its window. A model
    /// whose input norm is per frame is refused, naming the file, and no run folder is left.
    func testFloorBandsAddsTheNoiseFloorInput() throws {
        let fresh = folder.appendingPathComponent("fresh")
        XCTAssertEqual(try trainTinyCNN(fresh, ["--floor-bands", "8", "--floor-window", "1.5"]).status, 0)
        let freshModel = try DenoiseModel.load(url: fresh.appendingPathComponent("model.safetensors"))
        XCTAssertEqual(freshModel.net.config.floorBands, 8)
        XCTAssertNil(freshModel.net.config.floorWindow, "the default window is left out of the file")

        let start = try trainedResidualModel("small")
        let grown = folder.appendingPathComponent("grown")
        let result = try trainStill(grown, from: start, ["--floor-bands", "8", "--floor-window", "3"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("adding a noise-floor input of 8 bands (a 3 s window)"), result.stderr)
        let grownURL = grown.appendingPathComponent("model.safetensors")
        let before = try DenoiseModel.load(url: start), after = try DenoiseModel.load(url: grownURL)
        XCTAssertNil(before.net.config.floorBands)
        XCTAssertEqual(after.net.config.floorBands, 8)
        XCTAssertEqual(after.net.config.floorWindow, 3)
        let features = Matrix(rows: 40, cols: before.net.config.bins,
                              values: (0..<(40 * before.net.config.bins)).map { Float(($0 * 7919) % 23) * 0.5 - 12 })
        let masks = [before, after].map { $0.net.forward(features, layout: .single(frames: 40), training: false).array }
        XCTAssertLessThan(zip(masks[0], masks[1]).map { abs($0 - $1) }.max() ?? 1, 1e-5)
        let info = try DenoiseRunner.run(["info", grownURL.path], timeout: 60)
        XCTAssertTrue(info.stdout.contains("and 8 ERB bands of height above the noise floor (3 s window)"), info.stdout)
        let json = try DenoiseRunner.run(["info", "--json", grownURL.path], timeout: 60)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(object["floor_window_s"] as? Double, 3)

        try assertGrowthRefused(startOptions: ["--residual", "--input-norm", "layer"], ["--floor-bands", "8"],
                                saying: "layer-normalised")
    }

    /// --teacher trains with a trained model's masks as a second target and says so; a teacher file that is not a
    /// model is refused, naming it, before any run folder is made.
    func testTeacherTrainsAModelAndABadTeacherIsRefused() throws {
        let teacher = try trainedResidualModel("teacher")
        let student = folder.appendingPathComponent("student")
        let result = try DenoiseRunner.run(["train", "--noisy", noisy.path, "--clean", clean.path, "-o", student.path,
                                            "--epochs", "1", "--batch-size", "2", "--width", "8", "--dilations", "1,2",
                                            "--causal", "--teacher", teacher.path, "--teacher-weight", "2"],
                                           timeout: 120)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("teacher: \(teacher.path) (look-ahead "), result.stderr)
        XCTAssertTrue(result.stderr.contains("weight 2"), result.stderr)
        let config = try String(contentsOf: student.appendingPathComponent("config.json"), encoding: .utf8)
        XCTAssertTrue(config.contains("\"teacherWeight\":2") || config.contains("\"teacherWeight\" : 2"), config)

        let notAModel = folder.appendingPathComponent("noise.safetensors")
        try Data("not a model".utf8).write(to: notAModel)
        let refusedRun = folder.appendingPathComponent("refused")
        let refused = try DenoiseRunner.run(["train", "--noisy", noisy.path, "--clean", clean.path, "-o",
                                             refusedRun.path, "--epochs", "1", "--teacher", notAModel.path],
                                            timeout: 60)
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.contains(notAModel.path), refused.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: refusedRun.path))
    }

    /// Without input options, train builds the recommended input (32 ERB bands, running norm); `--input-bands 0`
    /// and `--input-norm batch` give the per-bin, corpus-statistics input of the bundled models.
    func testTrainBuildsTheRecommendedInputUnlessToldOtherwise() throws {
        for (name, options, bands, norm) in [("recommended", [String](), Optional(32), InputNormKind.running),
                                             ("per-bin", ["--input-bands", "0", "--input-norm", "batch"],
                                              nil, .batch)] {
            let run = folder.appendingPathComponent(name)
            let result = try trainTinyCNN(run, options)
            XCTAssertEqual(result.status, 0, result.stderr)
            let config = try DenoiseModel.load(url: run.appendingPathComponent("model.safetensors")).net.config
            XCTAssertEqual(config.inputBands, bands, name)
            XCTAssertEqual(config.inputNorm, norm, name)
        }
    }

    /// A causal model with the running input norm trains, is written as the newer format, and denoises a file
    /// frame by frame.
    func testCausalModelWithTheRunningInputNormTrainsAndApplies() throws {
        let run = folder.appendingPathComponent("running")
        let result = try trainTinyCNN(run, ["--causal", "--input-norm", "running", "--input-bands", "0"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let model = run.appendingPathComponent("model.safetensors")
        let loaded = try DenoiseModel.load(url: model)
        XCTAssertEqual(loaded.net.config.inputNorm, .running)
        XCTAssertTrue(loaded.net.config.causal)
        XCTAssertEqual(loaded.formatVersion, "denoise-model-5")
        let info = try DenoiseRunner.run(["info", model.path], timeout: 60)
        XCTAssertEqual(info.status, 0, info.stderr)
        XCTAssertTrue(info.stdout.contains("input norm:") && info.stdout.contains("running"), info.stdout)
        let input = try XCTUnwrap(FileManager.default.contentsOfDirectory(at: noisy, includingPropertiesForKeys: nil)
            .first { $0.pathExtension == "wav" })
        let output = folder.appendingPathComponent("running-out.wav")
        let applied = try DenoiseRunner.run(["apply", "-m", model.path, input.path, output.path], timeout: 60)
        XCTAssertEqual(applied.status, 0, applied.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: output.path))
    }

    /// A model with band input trains, is written as the newest format with its band count, says so in `info`
    /// (plain and JSON) and denoises a file; `--init` keeps the bands of the model it starts from.
    func testModelWithInputBandsTrainsAndApplies() throws {
        let run = folder.appendingPathComponent("bands")
        let result = try trainTinyCNN(run, ["--input-bands", "16"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let model = run.appendingPathComponent("model.safetensors")
        let loaded = try DenoiseModel.load(url: model)
        XCTAssertEqual(loaded.net.config.inputBands, 16)
        XCTAssertEqual(loaded.formatVersion, "denoise-model-6")
        XCTAssertEqual(loaded.net.store.entry(named: "input_norm.weight")?.count, 16)
        let info = try DenoiseRunner.run(["info", model.path], timeout: 60)
        XCTAssertEqual(info.status, 0, info.stderr)
        XCTAssertTrue(info.stdout.contains("16 ERB bands"), info.stdout)
        let json = try DenoiseRunner.run(["info", "--json", model.path], timeout: 60)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(object["input_bands"] as? Int, 16)
        let input = try XCTUnwrap(FileManager.default.contentsOfDirectory(at: noisy, includingPropertiesForKeys: nil)
            .first { $0.pathExtension == "wav" })
        let output = folder.appendingPathComponent("bands-out.wav")
        let applied = try DenoiseRunner.run(["apply", "-m", model.path, input.path, output.path], timeout: 60)
        XCTAssertEqual(applied.status, 0, applied.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: output.path))
        let tuned = folder.appendingPathComponent("bands-tuned")
        let fineTuned = try DenoiseRunner.run(["train", "--noisy", noisy.path, "--clean", clean.path, "-o", tuned.path,
                                               "--epochs", "1", "--batch-size", "2", "--quiet", "--init", model.path],
                                              timeout: 120)
        XCTAssertEqual(fineTuned.status, 0, fineTuned.stderr)
        let tunedModel = try DenoiseModel.load(url: tuned.appendingPathComponent("model.safetensors"))
        XCTAssertEqual(tunedModel.net.config.inputBands, 16)
    }

    /// Pairs recorded at 48 kHz are resampled to the model's 16 kHz on loading.
    func testTrainAccepts48kHzPairs() throws {
        let noisy48 = folder.appendingPathComponent("noisy48"), clean48 = folder.appendingPathComponent("clean48")
        for (source, target) in [(noisy!, noisy48), (clean!, clean48)] {
            try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
            for name in try FileManager.default.contentsOfDirectory(atPath: source.path) {
                let (buffer, _) = try WAVReader.read(url: source.appendingPathComponent(name))
                try Fixtures.writeWAV(Resampler.resample(buffer, to: 48000), to: target.appendingPathComponent(name),
                                      format: .pcm16)
            }
        }
        let run = folder.appendingPathComponent("run48")
        let result = try DenoiseRunner.run(["train", "--noisy", noisy48.path, "--clean", clean48.path, "-o", run.path,
                                            "--epochs", "1", "--batch-size", "2", "--arch", "mlp", "--quiet"],
                                           timeout: 120)
        XCTAssertEqual(result.status, 0, result.stderr)
        let model = try DenoiseModel.load(url: run.appendingPathComponent("model.safetensors"))
        XCTAssertEqual(model.sampleRate, 16000)
    }

    func testResumeWithoutACheckpointIsRefused() throws {
        let run = folder.appendingPathComponent("empty-run")
        let result = try train(run, epochs: 2, ["--resume"])
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertEqual(result.stderrLines.count, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains("checkpoint.safetensors") && result.stderr.contains("no checkpoint"),
                      result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: run.path), "a refused run creates nothing")
    }

    func testRunFolderBlockedByAFileIsOneClearError() throws {
        let blocker = folder.appendingPathComponent("taken")
        try Data("x".utf8).write(to: blocker)
        let cases = [
            (blocker, "\(blocker.path): exists and is not a folder"),
            (blocker.appendingPathComponent("run"), "\(blocker.path): is a file, not a folder"),
        ]
        for (run, message) in cases {
            let result = try train(run, epochs: 1)
            XCTAssertEqual(result.status, 1, result.stderr)
            XCTAssertEqual(result.stderrLines.count, 1, result.stderr)
            XCTAssertTrue(result.stderr.hasPrefix("error: \(message)"), result.stderr)
            XCTAssertEqual(try Data(contentsOf: blocker), Data("x".utf8))
        }
    }

    func testTrainWithoutQuietReportsEachEpoch() throws {
        let run = folder.appendingPathComponent("run")
        let result = try DenoiseRunner.run(["train", "--noisy", noisy.path, "--clean", clean.path, "-o", run.path,
                                            "--epochs", "1", "--arch", "mlp", "--batch-size", "3"], timeout: 120)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("training on 5 pairs"), result.stderr)
        XCTAssertTrue(result.stderrLines.contains { $0.hasPrefix("epoch   1  train ") }, result.stderr)
        XCTAssertTrue(result.stderrLines.last?.hasPrefix("done in ") == true, result.stderr)
        XCTAssertTrue(result.stderr.contains(run.appendingPathComponent("model.safetensors").path), result.stderr)
    }

    // MARK: - train from a manifest, streaming or preloaded

    /// A manifest in `folder` listing the six pairs in file-name order, as the folders pair them.
    private func writeManifest(_ text: String? = nil) throws -> URL {
        let url = folder.appendingPathComponent("pairs.csv")
        let rows = (0..<6).map { "speaker\($0),noisy/u\($0).wav,\(clean.path)/u\($0).wav\n" }.joined()
        try Data((text ?? "speaker,noisy,clean\n" + rows).utf8).write(to: url)
        return url
    }

    /// Folders or a manifest, streamed from disk or read into memory first: the same pairs give the same run.
    func testManifestAndPreloadTrainExactlyAsFoldersStreamed() throws {
        let manifest = try writeManifest()
        let common = ["--epochs", "2", "--batch-size", "2", "--schedule", "none", "--quiet", "--arch", "mlp"]
        var rows: [String: [[String]]] = [:]
        for (label, data) in [("folders", ["--noisy", noisy.path, "--clean", clean.path]),
                              ("preloaded", ["--noisy", noisy.path, "--clean", clean.path, "--preload"]),
                              ("manifest", ["--pairs", manifest.path])] {
            let run = folder.appendingPathComponent(label)
            let result = try DenoiseRunner.run(["train"] + data + ["-o", run.path] + common, timeout: 120)
            XCTAssertEqual(result.status, 0, "\(label): \(result.stderr)")
            rows[label] = try metricRows(run)
        }
        XCTAssertEqual(rows["folders"]?.count, 2)
        XCTAssertEqual(rows["preloaded"], rows["folders"])
        XCTAssertEqual(rows["manifest"], rows["folders"])
        let listed = try String(contentsOf: folder.appendingPathComponent("manifest/validation.txt"), encoding: .utf8)
        XCTAssertTrue(listed.hasPrefix("noisy/u"), "pairs of a manifest are named by their noisy path: \(listed)")
    }

    func testBadManifestsAreOneClearErrorNamingTheFileAndLine() throws {
        func run(_ text: String) throws -> RunResult {
            let manifest = try writeManifest(text)
            return try DenoiseRunner.run(["train", "--pairs", manifest.path, "-o",
                                          folder.appendingPathComponent("r").path, "--epochs", "1", "--quiet"],
                                         timeout: 60)
        }
        let path = folder.appendingPathComponent("pairs.csv").path
        let missingColumn = try run("noisy,target\nnoisy/u0.wav,clean/u0.wav\n")
        XCTAssertEqual(missingColumn.status, 1)
        XCTAssertTrue(missingColumn.stderr.contains(path) && missingColumn.stderr.contains("'clean' column"),
                      missingColumn.stderr)
        let missingFile = try run("noisy,clean\nnoisy/u0.wav,clean/u0.wav\nnoisy/u9.wav,clean/u1.wav\n")
        XCTAssertEqual(missingFile.status, 1)
        XCTAssertTrue(missingFile.stderr.contains("line 3") && missingFile.stderr.contains("noisy/u9.wav"),
                      missingFile.stderr)
        let empty = try run("noisy,clean\n")
        XCTAssertEqual(empty.status, 1)
        XCTAssertTrue(empty.stderr.contains(path) && empty.stderr.contains("no pairs"), empty.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("r").path),
                       "nothing is written for a bad manifest")
    }

    // MARK: - eval

    /// Enhanced = clean + a quarter of the noise, so the SNR must improve by 20·log10(4) = 12.04 dB on every
    /// file. Float files keep that exact.
    func testEvalTabulatesEachFileAndTheImprovementAndWritesCSV() throws {
        let exactNoisy = folder.appendingPathComponent("noisy-float")
        let exactClean = folder.appendingPathComponent("clean-float")
        let enhanced = folder.appendingPathComponent("enhanced")
        try writeCorpus(noiseScale: 1, into: exactNoisy, format: .float32)
        try writeCorpus(noiseScale: 0, into: exactClean, format: .float32)
        try writeCorpus(noiseScale: 0.25, into: enhanced, format: .float32)
        let csvURL = folder.appendingPathComponent("scores.csv")

        let result = try DenoiseRunner.run(["eval", "--clean", exactClean.path, "--enhanced", enhanced.path,
                                            "--noisy", exactNoisy.path, "--csv", csvURL.path], timeout: 120)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stderr, "")
        let table = result.stdout.split(separator: "\n").map(String.init)
        XCTAssertTrue(table.first?.hasPrefix("file") == true, result.stdout)
        for header in ["SI-SDR dB", "SNR dB", "segSNR dB", "STOI"] {
            XCTAssertTrue(table.first?.contains(header) == true, "\(header) missing: \(table.first ?? "")")
        }
        for index in 0..<6 {
            XCTAssertEqual(table.filter { $0.hasPrefix("u\(index).wav ") }.count, 1, result.stdout)
        }
        let mean = try XCTUnwrap(table.first { $0.hasPrefix("mean (6 files)") }, result.stdout)
        let noisyRow = try XCTUnwrap(table.first { $0.hasPrefix("noisy input") }, result.stdout)
        let improvement = try XCTUnwrap(table.first { $0.hasPrefix("improvement") }, result.stdout)
        func numbers(_ row: String) -> [Double] { row.split(separator: " ").compactMap { Double($0) } }
        XCTAssertEqual(numbers(mean).count, 4, mean)
        XCTAssertEqual(numbers(improvement).count, 4, improvement)
        // SNR (second column) gains 12.04 dB; the table's improvement is mean − noisy mean.
        XCTAssertEqual(numbers(improvement)[1], 12.04, accuracy: 0.02, improvement)
        for column in 0..<4 {
            XCTAssertEqual(numbers(improvement)[column], numbers(mean)[column] - numbers(noisyRow)[column],
                           accuracy: column == 3 ? 0.0015 : 0.015, "column \(column)")
        }
        XCTAssertGreaterThan(numbers(improvement)[0], 10, "SI-SDR must improve too: \(improvement)")
        XCTAssertFalse(result.stdout.contains("band"), "no band table without --stoi-bands:\n\(result.stdout)")

        let csv = try String(contentsOf: csvURL, encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertEqual(csv.count, 7, csv.joined(separator: "\n"))
        XCTAssertEqual(csv.first, "file,si_sdr_db,snr_db,seg_snr_db,stoi,"
                       + "noisy_si_sdr_db,noisy_snr_db,noisy_seg_snr_db,noisy_stoi")
        XCTAssertEqual(csv.dropFirst().map { String($0.prefix { $0 != "," }) }, (0..<6).map { "u\($0).wav" })
        for row in csv.dropFirst() {
            let fields = row.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            XCTAssertEqual(fields.count, 9, row)
            let values = fields.dropFirst().compactMap(Double.init)
            XCTAssertEqual(values.count, 8, row)
            XCTAssertEqual(values[1] - values[5], 12.04, accuracy: 0.01, "SNR gain of \(row)")
            XCTAssertTrue((0...1).contains(values[3]) && (0...1).contains(values[7]), "STOI in [0, 1]: \(row)")
        }
    }

    /// Enhanced = clean + a quarter of the noise, plus a pair of 0.3 s (under the 30 frames STOI needs) that the
    /// band means leave out and count.
    func testEvalWithSTOIBandsPrintsARowPerBandWithTheImprovement() throws {
        let enhanced = folder.appendingPathComponent("enhanced")
        try writeCorpus(noiseScale: 0.25, into: enhanced, format: .pcm16)
        let short = Fixtures.speechLike(seconds: 0.3, sampleRate: 16000, seed: 9)
        for directory in [clean, noisy, enhanced] {
            try Fixtures.writeWAV(short, to: try XCTUnwrap(directory).appendingPathComponent("short.wav"))
        }
        let result = try DenoiseRunner.run(["eval", "--clean", clean.path, "--enhanced", enhanced.path,
                                            "--noisy", noisy.path, "--stoi-bands"], timeout: 120)
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let title = try XCTUnwrap(lines.firstIndex { $0.hasPrefix("STOI per one-third-octave band") }, result.stdout)
        XCTAssertTrue(lines[title].hasSuffix("mean of 6 files:"), lines[title])
        XCTAssertEqual(lines[title + 1].split(separator: " "), ["band", "Hz", "enhanced", "noisy", "improvement"])
        let rows = Array(lines[(title + 2)...].prefix(15))
        XCTAssertEqual(rows.map { String($0.prefix { $0 != " " }) },
                       ["150", "189", "238", "300", "378", "476", "600", "756", "952", "1200", "1512", "1905", "2400",
                        "3024", "3810"], result.stdout)
        var enhancedColumn: [Double] = [], gains: [Double] = []
        for row in rows {
            let fields = row.split(separator: " ").map(String.init)
            XCTAssertEqual(fields.count, 4, row)
            let values = fields.dropFirst().compactMap(Double.init)
            guard values.count == 3 else { XCTFail("three numbers expected: \(row)"); continue }
            XCTAssertTrue(fields[3].hasPrefix("+") || fields[3].hasPrefix("-"), "signed gain: \(row)")
            XCTAssertEqual(values[2], values[0] - values[1], accuracy: 0.0015, row)
            enhancedColumn.append(values[0])
            gains.append(values[2])
        }
        XCTAssertEqual(Array(lines.dropFirst(title + 17)),
                       ["left out: 1 file too short for STOI (under about 0.4 s of speech)"])
        // STOI is the mean of the bands, so the band column averages to the files' mean STOI (the 6 counted ones).
        let fileSTOI = lines.filter { $0.hasPrefix("u") }.compactMap { $0.split(separator: " ").last.map(String.init) }
            .compactMap(Double.init)
        XCTAssertEqual(fileSTOI.count, 6, result.stdout)
        XCTAssertEqual(enhancedColumn.reduce(0, +) / 15, fileSTOI.reduce(0, +) / 6, accuracy: 0.0015)
        XCTAssertGreaterThan(gains.reduce(0, +) / 15, 0.01, "a quarter of the noise is more intelligible: \(gains)")

        let plain = try DenoiseRunner.run(["eval", "--clean", clean.path, "--enhanced", enhanced.path,
                                           "--stoi-bands"], timeout: 120)
        XCTAssertEqual(plain.status, 0, plain.stderr)
        let header = plain.stdout.split(separator: "\n").first { $0.hasPrefix("band Hz") }
        XCTAssertEqual(header?.split(separator: " "), ["band", "Hz", "enhanced"], "no noisy columns without --noisy")
    }

    func testEvalWithoutNoisyHasNoImprovementRowsAndLeavesTheNoisyColumnsEmpty() throws {
        let csvURL = folder.appendingPathComponent("scores.csv")
        let result = try DenoiseRunner.run(["eval", "--clean", clean.path, "--enhanced", noisy.path,
                                            "--csv", csvURL.path], timeout: 120)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("mean (6 files)"), result.stdout)
        XCTAssertFalse(result.stdout.contains("improvement"), result.stdout)
        let rows = try String(contentsOf: csvURL, encoding: .utf8).split(separator: "\n").dropFirst()
        XCTAssertEqual(rows.count, 6)
        for row in rows { XCTAssertTrue(row.hasSuffix(",,,,"), String(row)) }
    }

    /// The other files are still scored, but a mean over fewer files than asked for fails the run.
    func testEvalSkipsAnUnreadableFileWithAWarningNamingItAndExits1() throws {
        let enhanced = folder.appendingPathComponent("enhanced")
        try writeCorpus(noiseScale: 0.5, into: enhanced, format: .pcm16)
        try Data("broken".utf8).write(to: enhanced.appendingPathComponent("u3.wav"))
        let result = try DenoiseRunner.run(["eval", "--clean", clean.path, "--enhanced", enhanced.path], timeout: 120)
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertTrue(result.stdout.contains("mean (5 files)"), result.stdout)
        XCTAssertFalse(result.stdout.contains("u3.wav"), result.stdout)
        XCTAssertEqual(result.stderrLines.count, 1, result.stderr)
        XCTAssertTrue(result.stderr.hasPrefix("warning: skipped u3.wav"), result.stderr)
    }

    func testEvalFailsWithAListWhenFilesAreMissingExtraOrMismatched() throws {
        let enhanced = folder.appendingPathComponent("enhanced")
        try writeCorpus(noiseScale: 0.5, into: enhanced, format: .pcm16)
        try FileManager.default.removeItem(at: enhanced.appendingPathComponent("u1.wav"))
        try FileManager.default.copyItem(at: enhanced.appendingPathComponent("u0.wav"),
                                         to: enhanced.appendingPathComponent("stray.wav"))
        let short = Fixtures.speechLike(seconds: 0.25, sampleRate: 16000)
        try Fixtures.writeWAV(short, to: enhanced.appendingPathComponent("u2.wav"))
        let resampled = Fixtures.speechLike(seconds: 0.5, sampleRate: 8000)
        try Fixtures.writeWAV(resampled, to: enhanced.appendingPathComponent("u3.wav"))

        let result = try DenoiseRunner.run(["eval", "--clean", clean.path, "--enhanced", enhanced.path], timeout: 120)
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertEqual(result.stdout, "", "no means over fewer files than asked for")
        XCTAssertEqual(result.errorLines.count, 1, result.stderr)
        XCTAssertTrue(result.errorLines[0].contains("4 problems"), result.stderr)
        XCTAssertEqual(Array(result.stderrLines.dropFirst()), [
            "  u1.wav: has no enhanced file",
            "  stray.wav: enhanced file has no clean reference",
            "  u2.wav: clean has 8000 frames but enhanced has 4000",
            "  u3.wav: clean is 16000 Hz but enhanced is 8000 Hz",
        ])
    }

    func testEvalWithAllowMissingScoresThePairsThatMatchAndWarnsAboutTheRest() throws {
        let enhanced = folder.appendingPathComponent("enhanced")
        try writeCorpus(noiseScale: 0.5, into: enhanced, format: .pcm16)
        try FileManager.default.removeItem(at: enhanced.appendingPathComponent("u1.wav"))
        try Fixtures.writeWAV(Fixtures.speechLike(seconds: 0.25, sampleRate: 16000),
                              to: enhanced.appendingPathComponent("u2.wav"))
        let result = try DenoiseRunner.run(["eval", "--clean", clean.path, "--enhanced", enhanced.path,
                                            "--allow-missing"], timeout: 120)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("mean (4 files)"), result.stdout)
        XCTAssertEqual(result.stderrLines, ["warning: left out u1.wav: has no enhanced file",
                                            "warning: left out u2.wav: clean has 8000 frames but enhanced has 4000"])
    }
}
