@testable import DenoiseKit
import Foundation
import XCTest

/// The speech-probability head end to end: `apply --vad`, `info`, `train --vad-weight` and `eval --vad-model`.
final class SpeechProbabilityTests: XCTestCase {
    private var folder: URL!
    /// A tiny model with the head, and the same without it.
    private var headed: URL!
    private var plain: URL!

    override func setUpWithError() throws {
        (folder, plain) = try makeFolderWithTinyModel()
        headed = folder.appendingPathComponent("headed.safetensors")
        try Fixtures.writeTinyModel(to: headed, speechHead: true)
    }

    private func input(_ name: String, seconds: Double = 0.25, seed: UInt64 = 1, noise: Double = 0.03) throws -> URL {
        let url = folder.appendingPathComponent(name)
        try Fixtures.writeWAV(Fixtures.speechLike(seconds: seconds, sampleRate: 16000, seed: seed, noise: noise),
                              to: url)
        return url
    }

    func testApplyVADWritesOneRowPerFrame() throws {
        let source = try input("in.wav")
        let output = folder.appendingPathComponent("out.wav"), csv = folder.appendingPathComponent("speech.csv")
        let result = try DenoiseRunner.run(["apply", "-m", headed.path, "--vad", csv.path, source.path, output.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = try String(contentsOf: csv, encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first, "time_s,speech_probability")
        // 0.25 s at hop 32 (2 ms) with n_fft 64: 1 + 125 frames.
        XCTAssertEqual(lines.count - 1, STFT.frameCount(forSamples: 4000, config: Fixtures.stft))
        for (index, line) in lines.dropFirst().enumerated() {
            let fields = line.split(separator: ",").map(String.init)
            XCTAssertEqual(fields.count, 2, line)
            XCTAssertEqual(fields[0], String(format: "%.3f", Double(index) * 0.002), line)
            let probability = try XCTUnwrap(Double(fields[1]), line)
            XCTAssertTrue((0...1).contains(probability), line)
            XCTAssertEqual(fields[1].split(separator: ".").last?.count, 3, "fixed decimals: \(line)")
        }
        // The same probabilities as the library's Denoiser gives.
        let model = try DenoiseModel.load(url: headed)
        let samples = try WAVFiles.readMono(source).samples
        let denoiser = Denoiser(model: model, channelCount: 1, sampleRate: 16000,
                                options: DenoiserOptions(recordsSpeechProbability: true))
        _ = denoiser.process(AudioBuffer(mono: samples, sampleRate: 16000))
        _ = denoiser.finish()
        let expected = denoiser.takeSpeechProbabilities().map { String(format: "%.3f", $0) }
        XCTAssertEqual(lines.dropFirst().map { String($0.split(separator: ",")[1]) }, expected)
    }

    func testApplyVADIsAUsageErrorWithoutAHeadOrWithABatchAndWritesNothing() throws {
        let source = try input("in.wav")
        let output = folder.appendingPathComponent("out.wav"), csv = folder.appendingPathComponent("speech.csv")
        let noHead = try DenoiseRunner.run(["apply", "-m", plain.path, "--vad", csv.path, source.path, output.path])
        XCTAssertEqual(noHead.status, 64, noHead.stderr)
        XCTAssertTrue(noHead.stderr.contains("no speech-probability head"), noHead.stderr)
        let batch = try DenoiseRunner.run(["apply", "-m", headed.path, "--vad", csv.path, "-o",
                                           folder.appendingPathComponent("out").path, source.path])
        XCTAssertEqual(batch.status, 64, batch.stderr)
        XCTAssertTrue(batch.stderr.contains("--vad") && batch.stderr.contains("batch"), batch.stderr)
        let onOutput = try DenoiseRunner.run(["apply", "-m", headed.path, "--vad", output.path, source.path,
                                              output.path])
        XCTAssertEqual(onOutput.status, 64, onOutput.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: csv.path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.path))
    }

    /// A failed run (an unreadable input) leaves neither the CSV nor any temporary file behind.
    func testApplyVADLeavesNoPartialCSVOnFailure() throws {
        let broken = folder.appendingPathComponent("broken.wav")
        try Data("RIFF....WAVEjunk".utf8).write(to: broken)
        let csv = folder.appendingPathComponent("speech.csv")
        let before = Set(Fixtures.tree(folder))
        let result = try DenoiseRunner.run(["apply", "-m", headed.path, "--vad", csv.path, broken.path,
                                            folder.appendingPathComponent("out.wav").path])
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertEqual(Set(Fixtures.tree(folder)), before)
    }

    func testInfoSaysWhetherTheModelHasTheHead() throws {
        for (url, expected) in [(headed!, true), (plain!, false)] {
            let json = try DenoiseRunner.run(["info", "--json", url.path])
            XCTAssertEqual(json.status, 0, json.stderr)
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
            XCTAssertEqual(object["speech_probability"] as? Bool, expected)
            XCTAssertEqual(object["format"] as? String, expected ? "denoise-model-4" : "denoise-model-1")
            let text = try DenoiseRunner.run(["info", url.path])
            XCTAssertTrue(text.stdout.contains("speech head:   " + (expected ? "yes" : "no")), text.stdout)
        }
    }

    /// --vad-weight 0 trains no head; the default trains one; --init from a model without it adds it;
    /// --speech-head-only trains nothing else.
    func testTrainBuildsTheHeadByDefaultAndAddsItWhenFineTuning() throws {
        let noisy = folder.appendingPathComponent("noisy"), clean = folder.appendingPathComponent("clean")
        for directory in [noisy, clean] {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        }
        for index in 0..<4 {
            // Speech-like bursts between pauses of silence, so the clean side has both classes.
            let speech = Fixtures.speechLike(seconds: 0.3, sampleRate: 16000, seed: UInt64(index), noise: 0).channels[0]
            let silence = [Float](repeating: 0, count: 3200)
            let cleanSamples = silence + speech + silence
            var rng = SplitMix(seed: UInt64(index))
            let noisySamples = cleanSamples.map { $0 + Float(0.05 * rng.uniform()) }
            try Fixtures.writeWAV(AudioBuffer(mono: cleanSamples, sampleRate: 16000),
                                  to: clean.appendingPathComponent("u\(index).wav"))
            try Fixtures.writeWAV(AudioBuffer(mono: noisySamples, sampleRate: 16000),
                                  to: noisy.appendingPathComponent("u\(index).wav"))
        }
        func train(_ name: String, _ extra: [String]) throws -> DenoiseModel {
            let run = folder.appendingPathComponent(name)
            let result = try DenoiseRunner.run(["train", "--noisy", noisy.path, "--clean", clean.path, "-o", run.path,
                                                "--epochs", "1", "--batch-size", "2", "--quiet", "--val-split", "0.5"]
                                                   + extra, timeout: 120)
            XCTAssertEqual(result.status, 0, result.stderr)
            return try DenoiseModel.load(url: run.appendingPathComponent("model.safetensors"))
        }
        XCTAssertFalse(try train("none", ["--arch", "mlp", "--width", "8", "--vad-weight", "0"]).hasSpeechHead)
        XCTAssertTrue(try train("default", ["--arch", "mlp", "--width", "8"]).hasSpeechHead)
        let metrics = try String(contentsOf: folder.appendingPathComponent("default/metrics.csv"), encoding: .utf8)
        XCTAssertTrue(metrics.hasPrefix("epoch,") && metrics.contains("val_speech_auc"), metrics)

        let tuned = try train("tuned", ["--init", plain.path])
        XCTAssertTrue(tuned.hasSpeechHead)
        let original = try DenoiseModel.load(url: plain)
        XCTAssertEqual(tuned.net.parameterCount, original.net.parameterCount + 8 + 1)

        // --speech-head-only trains that head again and leaves every other tensor as it was.
        let refit = try train("refit", ["--init", folder.appendingPathComponent("tuned/model.safetensors").path,
                                        "--speech-head-only"])
        let (before, after) = (tuned.safeTensors().tensors, refit.safeTensors().tensors)
        XCTAssertEqual(Set(before.keys), Set(after.keys))
        for (name, tensor) in before {
            if name.hasPrefix(MaskNet.speechHeadPrefix) {
                XCTAssertTrue(after[name]?.values != tensor.values, "\(name) was not trained")
            } else {
                XCTAssertTrue(after[name]?.values == tensor.values, "\(name) changed")
            }
        }

        let eval = try DenoiseRunner.run(["eval", "--clean", clean.path, "--enhanced", noisy.path,
                                          "--noisy", noisy.path, "--vad-model",
                                          folder.appendingPathComponent("default/model.safetensors").path,
                                          "--vad-model", plain.path], timeout: 120)
        XCTAssertEqual(eval.status, 0, eval.stderr)
        let lines = eval.stdout.split(separator: "\n").filter { $0.hasPrefix("speech AUC") }
        XCTAssertEqual(lines.count, 2, eval.stdout)
        XCTAssertTrue(lines[0].contains("over ") && lines[0].contains("frames of 4 files"), eval.stdout)
        XCTAssertNotNil(lines[0].split(separator: " ").compactMap { Double($0) }.first, eval.stdout)
        XCTAssertTrue(lines[1].contains("no speech-probability head"), eval.stdout)

        let withoutNoisy = try DenoiseRunner.run(["eval", "--clean", clean.path, "--enhanced", noisy.path,
                                                  "--vad-model", plain.path])
        XCTAssertEqual(withoutNoisy.status, 64, withoutNoisy.stderr)
    }
}
