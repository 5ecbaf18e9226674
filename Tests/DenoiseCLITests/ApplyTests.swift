@testable import DenoiseKit
import Foundation
import XCTest

/// `denoise apply` end to end, on the built executable with a tiny model made in the test.
final class ApplyTests: XCTestCase {
    private var folder: URL!
    private var model: URL!

    override func setUpWithError() throws {
        (folder, model) = try makeFolderWithTinyModel()
    }

    private func apply(_ arguments: [String], environment: [String: String] = [:],
                       file: StaticString = #filePath, line: UInt = #line) throws -> RunResult {
        try DenoiseRunner.run(["apply", "-m", model.path] + arguments, environment: environment, file: file, line: line)
    }

    /// Writes 0.25 s of speech-like signal as `name` in `folder` (or `directory`).
    @discardableResult
    private func input(_ name: String, in directory: URL? = nil, rate: Int = 16000, channels: Int = 1,
                       format: WAVSampleFormat = .pcm16, seed: UInt64 = 1) throws -> URL {
        let url = (directory ?? folder).appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Fixtures.writeWAV(Fixtures.speechLike(seconds: 0.25, sampleRate: rate, channels: channels, seed: seed),
                              to: url, format: format)
        return url
    }

    // MARK: - One file

    func testOutputKeepsLengthRateChannelsAndSampleFormat() throws {
        let cases: [(WAVSampleFormat, Int, Int)] = [
            (.pcm16, 16000, 1), (.pcm24, 16000, 1), (.pcm16, 44100, 2), (.float32, 22050, 1), (.pcm8, 8000, 1),
        ]
        for (format, rate, channels) in cases {
            let name = "\(format.bitsPerSample)-\(rate)-\(channels)"
            let source = try input("in-\(name).wav", rate: rate, channels: channels, format: format)
            let output = folder.appendingPathComponent("out-\(name).wav")
            let result = try apply([source.path, output.path])
            XCTAssertEqual(result.status, 0, "\(name): \(result.stderr)")
            XCTAssertEqual(result.stderr, "", name)
            let reader = try WAVReader(url: output)
            let original = try WAVReader(url: source)
            XCTAssertEqual(reader.format, original.format, name)
            XCTAssertEqual(reader.frameCount, original.frameCount, name)
            XCTAssertEqual(reader.format.sampleFormat, format, name)
        }
    }

    func testExistingOutputIsKeptWithoutForceAndReplacedWithIt() throws {
        let source = try input("in.wav")
        let output = folder.appendingPathComponent("out.wav")
        let precious = Data("keep me".utf8)
        try precious.write(to: output)

        let refused = try apply([source.path, output.path])
        XCTAssertEqual(refused.status, 1, refused.stderr)
        XCTAssertEqual(refused.errorLines.count, 1, refused.stderr)
        XCTAssertTrue(refused.stderr.contains(output.path), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("--force"), refused.stderr)
        XCTAssertEqual(try Data(contentsOf: output), precious)

        let forced = try apply(["--force", source.path, output.path])
        XCTAssertEqual(forced.status, 0, forced.stderr)
        XCTAssertEqual(try WAVReader(url: output).frameCount, try WAVReader(url: source).frameCount)
        XCTAssertEqual(Fixtures.temporaryFiles(in: folder), [])
    }

    func testInputIsNeverItsOwnOutputWhateverTheSpelling() throws {
        let source = try input("in.wav")
        let original = try Data(contentsOf: source)
        let link = folder.appendingPathComponent("link.wav")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: source)
        let hardLink = folder.appendingPathComponent("hard.wav")
        try FileManager.default.linkItem(at: source, to: hardLink)

        // Spelled the same: a usage error before any work, naming OUT.wav as given. Through a link: found on the
        // file system (exit 1).
        let calls: [([String], Int32, String)] = [
            ([source.path, source.path], 64, source.path),
            (["in.wav", "./in.wav"], 64, "'./in.wav'"),
            ([source.path, folder.path + "/sub/../in.wav"], 64, folder.path + "/sub/../in.wav"),
            ([source.path, link.path], 1, link.path),
            ([link.path, source.path], 1, source.path),
            (["--force", source.path, link.path], 1, link.path),
            (["--force", hardLink.path, source.path], 1, source.path),
        ]
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("sub"),
                                                withIntermediateDirectories: true)
        for (arguments, status, named) in calls {
            let result = try DenoiseRunner.run(["apply", "-m", model.path] + arguments, currentDirectory: folder)
            XCTAssertEqual(result.status, status, "\(arguments): \(result.stderr)")
            XCTAssertEqual(result.errorLines.count, 1, "\(arguments): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains("input"), "\(arguments): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(named), "\(arguments): \(result.stderr)")
            XCTAssertEqual(try Data(contentsOf: source), original, "\(arguments) changed the input")
        }
        XCTAssertEqual(Fixtures.temporaryFiles(in: folder), [])
    }

    func testVerboseNamesTheModelAndTheFiles() throws {
        let source = try input("in.wav")
        let output = folder.appendingPathComponent("out.wav")
        let result = try apply(["-v", source.path, output.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderrLines.contains("model: \(model.path) (--model)"), result.stderr)
        XCTAssertTrue(result.stderr.contains("\(source.path) → \(output.path)"), result.stderr)
        XCTAssertTrue(result.stderr.contains("0.25 s of audio"), result.stderr)
    }

    func testMixZeroGivesBackTheInputWithinOneStep() throws {
        let source = try input("in.wav")
        let output = folder.appendingPathComponent("out.wav")
        let result = try apply(["--mix", "0", source.path, output.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let expected = try Fixtures.pcm16Samples(source), got = try Fixtures.pcm16Samples(output)
        XCTAssertEqual(got.count, expected.count)
        // STFT → ISTFT with a unit gain reconstructs to ~1e-5: at most one 16-bit step of rounding.
        let worst = zip(got, expected).map { abs(Int($0) - Int($1)) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst, 1)
        XCTAssertGreaterThan(expected.map { abs(Int($0)) }.max() ?? 0, 5000, "the input should not be near silence")
    }

    /// The dry signal is the input as read, at its own rate: nothing of it is resampled or resynthesised.
    func testMixZeroIsBitExactOnA48kHzStereo24BitFile() throws {
        let source = try input("in.wav", rate: 48000, channels: 2, format: .pcm24)
        let output = folder.appendingPathComponent("out.wav")
        let result = try apply(["--mix", "0", "--atten-limit", "6", source.path, output.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let (expected, _) = try WAVReader.read(url: source), (got, format) = try WAVReader.read(url: output)
        XCTAssertEqual(format.sampleFormat, .pcm24)
        XCTAssertEqual(got.channels, expected.channels)
    }

    /// A model that keeps everything gives back a 48 kHz input, its band above 8 kHz included.
    func testUnityMaskKeepsTheWholeBandOfA48kHzFile() throws {
        let keeper = folder.appendingPathComponent("keeper.safetensors")
        try Fixtures.writeConstantMaskModel(to: keeper, logit: 40)
        let source = try input("in.wav", rate: 48000)
        let output = folder.appendingPathComponent("out.wav")
        let result = try DenoiseRunner.run(["apply", "-m", keeper.path, source.path, output.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let expected = try Fixtures.pcm16Samples(source), got = try Fixtures.pcm16Samples(output)
        XCTAssertEqual(got.count, expected.count)
        XCTAssertLessThanOrEqual(zip(got, expected).map { abs(Int($0) - Int($1)) }.max() ?? 0, 1)
    }

    func testAttenuationLimitFloorsTheMask() throws {
        // A model that would remove everything: mask sigmoid(-20) ≈ 2e-9 in every bin.
        let silencer = folder.appendingPathComponent("silencer.safetensors")
        try Fixtures.writeConstantMaskModel(to: silencer, logit: -20)
        let source = try input("in.wav")
        let expected = try Fixtures.pcm16Samples(source)

        let unlimited = folder.appendingPathComponent("unlimited.wav")
        let first = try DenoiseRunner.run(["apply", "-m", silencer.path, source.path, unlimited.path])
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertLessThanOrEqual(try Fixtures.pcm16Samples(unlimited).map { abs(Int($0)) }.max() ?? 0, 1)

        // --atten-limit 20 keeps at least 10^(-20/20) = 0.1 of every bin: here exactly 0.1 of the input.
        let limited = folder.appendingPathComponent("limited.wav")
        let second = try DenoiseRunner.run(["apply", "-m", silencer.path, "--atten-limit", "20", source.path,
                                            limited.path])
        XCTAssertEqual(second.status, 0, second.stderr)
        let got = try Fixtures.pcm16Samples(limited)
        XCTAssertEqual(got.count, expected.count)
        let worst = zip(got, expected).map { abs(Double($0) - 0.1 * Double($1)) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst, 1, "output should be 0.1 × input to one step")
    }

    func testMaskNearOneLeavesTheSignalAlone() throws {
        let passThrough = folder.appendingPathComponent("pass.safetensors")
        try Fixtures.writeConstantMaskModel(to: passThrough, logit: 20)  // sigmoid(20) = 1 - 2e-9
        let source = try input("in.wav", channels: 2)
        let output = folder.appendingPathComponent("out.wav")
        let result = try DenoiseRunner.run(["apply", "-m", passThrough.path, source.path, output.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let worst = zip(try Fixtures.pcm16Samples(output), try Fixtures.pcm16Samples(source))
            .map { abs(Int($0) - Int($1)) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst, 1, "channels must stay in place and the signal unchanged")
    }

    // MARK: - Finding the model

    func testDenoiseModelEnvironmentVariableIsUsed() throws {
        let source = try input("in.wav")
        let output = folder.appendingPathComponent("out.wav")
        let result = try DenoiseRunner.run(["apply", "-v", source.path, output.path],
                                           environment: ["DENOISE_MODEL": model.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderrLines.contains("model: \(model.path) ($DENOISE_MODEL)"), result.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: output.path))
    }

    func testExplicitModelWinsOverTheEnvironment() throws {
        let source = try input("in.wav")
        let output = folder.appendingPathComponent("out.wav")
        let missing = folder.appendingPathComponent("missing.safetensors")
        let result = try apply(["-v", source.path, output.path], environment: ["DENOISE_MODEL": missing.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("(--model)"), result.stderr)
    }

    func testMissingModelFromTheEnvironmentIsNamed() throws {
        let source = try input("in.wav")
        let output = folder.appendingPathComponent("out.wav")
        let missing = folder.appendingPathComponent("missing.safetensors")
        let result = try DenoiseRunner.run(["apply", source.path, output.path],
                                           environment: ["DENOISE_MODEL": missing.path])
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertEqual(result.stderrLines.count, 1, result.stderr)
        XCTAssertTrue(result.stderr.hasPrefix("error: "), result.stderr)
        XCTAssertTrue(result.stderr.contains(missing.path), result.stderr)
        XCTAssertTrue(result.stderr.contains("DENOISE_MODEL"), "say where the path came from: \(result.stderr)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.path))
    }

    func testMissingModelGivenWithDashMIsNamed() throws {
        let source = try input("in.wav")
        let output = folder.appendingPathComponent("out.wav")
        let missing = folder.appendingPathComponent("missing.safetensors")
        let result = try DenoiseRunner.run(["apply", "-m", missing.path, source.path, output.path])
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertEqual(result.stderrLines.count, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains(missing.path), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.path))
    }

    /// Run through PATH, argv[0] is just "denoise": the model beside the executable must still be found,
    /// not one in the current folder. A copy of the executable (it links its libraries by absolute path)
    /// gets a model beside it; a decoy of the same name waits in the current folder.
    func testModelBesideTheExecutableIsFoundWhenRunThroughPATH() throws {
        let executable = try XCTUnwrap(DenoiseRunner.executable)
        let bin = folder.appendingPathComponent("bin"), work = folder.appendingPathComponent("work")
        for directory in [bin, work] {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        }
        try FileManager.default.copyItem(at: executable, to: bin.appendingPathComponent("denoise"))
        let beside = bin.appendingPathComponent("denoise-default.safetensors")
        try FileManager.default.copyItem(at: model, to: beside)
        try Data("decoy".utf8).write(to: work.appendingPathComponent("denoise-default.safetensors"))
        let source = try input("in.wav")
        let output = folder.appendingPathComponent("out.wav")

        let path = bin.path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        let script = "exec denoise apply -v \"$1\" \"$2\""
        let result = try DenoiseRunner.run(["-c", script, "sh", source.path, output.path],
                                           environment: ["PATH": path, "DENOISE_MODEL": ""], currentDirectory: work,
                                           program: URL(fileURLWithPath: "/bin/sh"))
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderrLines.contains("model: \(beside.path) (beside the executable)"), result.stderr)

        // Through a symbolic link to the executable: the model beside the real file.
        let link = folder.appendingPathComponent("link-to-denoise")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: bin.appendingPathComponent("denoise"))
        let linked = try DenoiseRunner.run(["apply", "-v", "--force", source.path, output.path],
                                           environment: ["DENOISE_MODEL": ""], currentDirectory: work, program: link)
        XCTAssertEqual(linked.status, 0, linked.stderr)
        XCTAssertTrue(linked.stderrLines.contains("model: \(beside.path) (beside the executable)"), linked.stderr)
    }

    func testNoModelAnywhereIsAClearError() throws {
        // Only reachable when no default model is installed beside the executable or bundled in samples/.
        let executable = try XCTUnwrap(DenoiseRunner.executable)
        let beside = executable.deletingLastPathComponent().appendingPathComponent("denoise-default.safetensors")
        let bundled = URL(fileURLWithPath: "\(#filePath)").deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("samples/denoise-default.safetensors")
        for url in [beside, bundled] where FileManager.default.fileExists(atPath: url.path) {
            throw XCTSkip("a default model exists at \(url.path), so apply always finds one")
        }
        let source = try input("in.wav")
        let output = folder.appendingPathComponent("out.wav")
        let result = try DenoiseRunner.run(["apply", source.path, output.path], environment: ["DENOISE_MODEL": ""])
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertEqual(result.stderrLines.count, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains("no model found"), result.stderr)
        XCTAssertTrue(result.stderr.contains("--model"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.path))
    }

    // MARK: - Batches

    func testBatchMirrorsTheTreeWithSuffixAndIgnoresOtherFiles() throws {
        let inputs = folder.appendingPathComponent("in")
        try input("a.wav", in: inputs)
        try input("B.WAV", in: inputs, seed: 2)
        try input("deep/nested/c.wav", in: inputs, rate: 8000, seed: 3)
        try Data("notes".utf8).write(to: inputs.appendingPathComponent("readme.txt"))
        try Data("not audio".utf8).write(to: inputs.appendingPathComponent("deep/cover.jpg"))
        let outputs = folder.appendingPathComponent("out")

        let result = try apply(["--suffix", "_dn", "-o", outputs.path, inputs.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.errorLines, [])
        XCTAssertEqual(Fixtures.tree(outputs), ["B_dn.WAV", "a_dn.wav", "deep/nested/c_dn.wav"])
        XCTAssertTrue(result.stderr.contains("3 of 3 files denoised"), result.stderr)
        let nested = try WAVReader(url: outputs.appendingPathComponent("deep/nested/c_dn.wav"))
        XCTAssertEqual(nested.format.sampleRate, 8000)
        XCTAssertEqual(nested.frameCount, 2000)
    }

    /// A folder of links to recordings kept elsewhere (a hand-picked subset, say) is a folder of WAV files.
    func testBatchFollowsLinksToFilesElsewhere() throws {
        let store = folder.appendingPathComponent("store")
        try input("x.wav", in: store)
        try input("y.wav", in: store, seed: 2)
        let picked = folder.appendingPathComponent("picked")
        try FileManager.default.createDirectory(at: picked, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: picked.appendingPathComponent("first.wav"),
                                                   withDestinationURL: store.appendingPathComponent("x.wav"))
        let outputs = folder.appendingPathComponent("out")

        let result = try apply(["-o", outputs.path, picked.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(Fixtures.tree(outputs), ["first.wav"])
    }

    func testBatchGoesOnPastACorruptFileAndListsItAtTheEnd() throws {
        let inputs = folder.appendingPathComponent("in")
        for (index, name) in ["a.wav", "b.wav", "d.wav", "sub/e.wav"].enumerated() {
            try input(name, in: inputs, seed: UInt64(index + 1))
        }
        let corrupt = inputs.appendingPathComponent("c.wav")
        try Data("RIFF....WAVEjunk".utf8).write(to: corrupt)
        let outputs = folder.appendingPathComponent("out")

        let result = try apply(["-j", "2", "-o", outputs.path, inputs.path])
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertEqual(Fixtures.tree(outputs), ["a.wav", "b.wav", "d.wav", "sub/e.wav"])
        XCTAssertTrue(result.stderr.contains("4 of 5 files denoised"), result.stderr)
        let lines = result.stderrLines
        let summary = try XCTUnwrap(lines.firstIndex(of: "1 failed:"), result.stderr)
        XCTAssertEqual(lines.count, summary + 2, "the list of failures ends the output:\n\(result.stderr)")
        XCTAssertTrue(lines[summary + 1].hasPrefix("  \(corrupt.path): "), result.stderr)
        XCTAssertEqual(lines[summary + 1].components(separatedBy: "c.wav").count, 2,
                       "named once: \(lines[summary + 1])")
        XCTAssertEqual(result.errorLines.count, 1, result.stderr)
        XCTAssertTrue(result.errorLines[0].contains(corrupt.path), result.stderr)
        for file in ["a.wav", "b.wav", "d.wav", "sub/e.wav"] {
            XCTAssertEqual(try WAVReader(url: outputs.appendingPathComponent(file)).frameCount, 4000, file)
        }
        XCTAssertEqual(Fixtures.temporaryFiles(in: outputs), [])
    }

    func testTwoJobsWriteTheSameBytesAsOne() throws {
        let inputs = folder.appendingPathComponent("in")
        for index in 0..<5 { try input("f\(index).wav", in: inputs, channels: 1 + index % 2, seed: UInt64(index)) }
        let one = folder.appendingPathComponent("one"), two = folder.appendingPathComponent("two")
        let first = try apply(["-j", "1", "-o", one.path, inputs.path])
        let second = try apply(["-j", "2", "-o", two.path, inputs.path])
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertEqual(second.status, 0, second.stderr)
        XCTAssertEqual(Fixtures.tree(one), (0..<5).map { "f\($0).wav" })
        XCTAssertEqual(Fixtures.tree(two), Fixtures.tree(one))
        for name in Fixtures.tree(one) {
            XCTAssertEqual(try Data(contentsOf: two.appendingPathComponent(name)),
                           try Data(contentsOf: one.appendingPathComponent(name)), name)
        }
    }

    func testBatchOutputMatchesSingleFileOutput() throws {
        let source = try input("in.wav")
        let single = folder.appendingPathComponent("single.wav")
        XCTAssertEqual(try apply([source.path, single.path]).status, 0)
        let outputs = folder.appendingPathComponent("out")
        XCTAssertEqual(try apply(["-o", outputs.path, source.path]).status, 0)
        XCTAssertEqual(try Data(contentsOf: outputs.appendingPathComponent("in.wav")), try Data(contentsOf: single))
    }

    func testBatchRefusesToOverwriteWithoutForce() throws {
        let inputs = folder.appendingPathComponent("in")
        try input("a.wav", in: inputs)
        try input("b.wav", in: inputs, seed: 2)
        let outputs = folder.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: outputs, withIntermediateDirectories: true)
        let existing = outputs.appendingPathComponent("a.wav")
        try Data("keep".utf8).write(to: existing)

        let refused = try apply(["-o", outputs.path, inputs.path])
        XCTAssertEqual(refused.status, 1, refused.stderr)
        XCTAssertEqual(try Data(contentsOf: existing), Data("keep".utf8))
        XCTAssertTrue(refused.stderr.contains("\(existing.path): already exists"), refused.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: outputs.appendingPathComponent("b.wav").path))

        let forced = try apply(["--force", "-o", outputs.path, inputs.path])
        XCTAssertEqual(forced.status, 0, forced.stderr)
        XCTAssertEqual(try WAVReader(url: existing).frameCount, 4000)
    }

    func testBatchIntoTheInputFolderNeverOverwritesAnInput() throws {
        let source = try input("in.wav")
        let original = try Data(contentsOf: source)
        let result = try apply(["--force", "-o", folder.path, source.path])
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains("input"), result.stderr)
        XCTAssertEqual(try Data(contentsOf: source), original)
    }
}
