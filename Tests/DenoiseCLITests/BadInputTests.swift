@testable import DenoiseKit
import Foundation
import XCTest

/// Builds WAV files field by field, so a test can get any one of them wrong.
private struct WAVBytes {
    var formType = "WAVE"
    var formatCode = 1
    var channels = 1
    var sampleRate = 16000
    var bitsPerSample = 16
    /// nBlockAlign; nil for channels × bits / 8.
    var blockAlign: Int?
    /// The fmt chunk's size field and body length; 16 is the canonical size.
    var fmtSize = 16
    /// nil leaves the data chunk out.
    var data: Data? = Data(count: 3200)
    /// The data chunk's size field; nil for the real size.
    var claimedDataSize: Int?

    var bytes: Data {
        let align = blockAlign ?? channels * bitsPerSample / 8
        var fmt = le16(formatCode) + le16(channels) + le32(sampleRate) + le32(sampleRate * align) + le16(align)
            + le16(bitsPerSample)
        fmt.count = fmtSize  // cut short, or zero-extended to the claimed size
        var body = Data(formType.utf8) + Data("fmt ".utf8) + le32(fmtSize) + fmt
        if let data { body += Data("data".utf8) + le32(claimedDataSize ?? data.count) + data }
        return Data("RIFF".utf8) + le32(body.count) + body
    }

    private func le16(_ value: Int) -> Data {
        withUnsafeBytes(of: UInt16(truncatingIfNeeded: value).littleEndian) { Data($0) }
    }

    private func le32(_ value: Int) -> Data {
        withUnsafeBytes(of: UInt32(truncatingIfNeeded: value).littleEndian) { Data($0) }
    }

    /// A float32 file of 1600 frames of 0.1 with `value` at frame 800.
    static func float32(with value: Float) -> WAVBytes {
        var samples = [Float](repeating: 0.1, count: 1600)
        samples[800] = value
        var wav = WAVBytes()
        wav.formatCode = 3
        wav.bitsPerSample = 32
        wav.data = samples.withUnsafeBytes { Data($0) }
        return wav
    }
}

/// Every way a user can hand `apply` (and `info`) a bad file: exit 1 with exactly one line
/// `error: <file>: <problem>`, no output and no temporary file left behind, never a crash.
final class BadInputTests: XCTestCase {
    private var folder: URL!
    private var model: URL!
    private var outputs: URL!

    override func setUpWithError() throws {
        (folder, model) = try makeFolderWithTinyModel()
        outputs = folder.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: outputs, withIntermediateDirectories: true)
    }

    /// Runs `apply -m model input output` and checks the failure contract; `problem` are words the error
    /// line must contain besides `named` (by default the input's path).
    /// `unprivileged` runs denoise as user nobody when the tests run as root (permission bits do not stop root).
    private func expectFailure(input: URL, output: URL? = nil, named: String? = nil, problem: [String],
                               extra: [String] = [], unprivileged: Bool = false,
                               file: StaticString = #filePath, line: UInt = #line) throws {
        let output = output ?? outputs.appendingPathComponent("out.wav")
        let arguments = ["apply", "-m", model.path] + extra + [input.path, output.path]
        let result = unprivileged ? try runUnprivileged(arguments, file: file, line: line)
            : try DenoiseRunner.run(arguments, file: file, line: line)
        let call = "apply \(input.lastPathComponent)"
        XCTAssertEqual(result.status, 1, "\(call): \(result.stderr)", file: file, line: line)
        XCTAssertEqual(result.stdout, "", call, file: file, line: line)
        XCTAssertEqual(result.stderrLines.count, 1, "\(call): one line expected:\n\(result.stderr)",
                       file: file, line: line)
        let message = result.stderrLines.first ?? ""
        XCTAssertTrue(message.hasPrefix("error: "), "\(call): \(message)", file: file, line: line)
        XCTAssertTrue(message.contains(named ?? input.path), "\(call): file not named in \(message)",
                      file: file, line: line)
        for word in problem {
            XCTAssertTrue(message.lowercased().contains(word.lowercased()), "\(call): '\(word)' not in \(message)",
                          file: file, line: line)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.path), "\(call) wrote an output",
                       file: file, line: line)
        let folder = output.deletingLastPathComponent()
        XCTAssertEqual(Fixtures.temporaryFiles(in: folder), [], "\(call) left a temporary file", file: file, line: line)
    }

    private func write(_ data: Data, _ name: String) throws -> URL {
        let url = folder.appendingPathComponent(name)
        try data.write(to: url)
        return url
    }

    private func write(_ wav: WAVBytes, _ name: String) throws -> URL { try write(wav.bytes, name) }

    // MARK: - Not a WAV file at all

    func testEmptyFile() throws {
        try expectFailure(input: write(Data(), "empty.wav"), problem: ["empty"])
    }

    func testRandomBytes() throws {
        var rng = SplitMix(seed: 7)
        var bytes = rng.bytes(4096)
        bytes[0] = 0x7F  // not "R": random bytes that happen to start a RIFF header are not the point
        try expectFailure(input: write(bytes, "noise.wav"), problem: ["not a WAV file"])
    }

    func testTextFileNamedWav() throws {
        try expectFailure(input: write(Data("Hello, this is a text file.\n".utf8), "text.wav"),
                          problem: ["not a WAV file", "\"Hell\""])
    }

    func testRIFFWithAnotherFormType() throws {
        var wav = WAVBytes()
        wav.formType = "AVI "
        try expectFailure(input: write(wav, "video.wav"), problem: ["\"AVI \"", "not \"WAVE\""])
    }

    // MARK: - Broken headers

    func testHeaderOnlyWithoutDataChunk() throws {
        var wav = WAVBytes()
        wav.data = nil
        try expectFailure(input: write(wav, "header-only.wav"), problem: ["no data chunk"])
    }

    func testFmtChunkTooShort() throws {
        var wav = WAVBytes()
        wav.fmtSize = 12
        try expectFailure(input: write(wav, "short-fmt.wav"), problem: ["fmt chunk is 12 bytes"])
    }

    func testZeroChannels() throws {
        var wav = WAVBytes()
        wav.channels = 0
        try expectFailure(input: write(wav, "no-channels.wav"), problem: ["0 channels"])
    }

    /// nChannels is 16 bits: 65535 is the most a header can claim (100 000 would wrap to 34464).
    func testHugeChannelCounts() throws {
        for count in [65_535, 100_000 & 0xFFFF, 9] {
            var wav = WAVBytes()
            wav.channels = count
            try expectFailure(input: write(wav, "channels-\(count).wav"), problem: ["\(count) channels"])
        }
    }

    func testZeroHertz() throws {
        var wav = WAVBytes()
        wav.sampleRate = 0
        try expectFailure(input: write(wav, "zero-hz.wav"), problem: ["sample rate 0 Hz"])
    }

    func testTwelveBitPCM() throws {
        var wav = WAVBytes()
        wav.bitsPerSample = 12
        wav.blockAlign = 2
        try expectFailure(input: write(wav, "12-bit.wav"), problem: ["bit depth 12"])
    }

    func testCompressedCodecsAreNamed() throws {
        var adpcm = WAVBytes()
        adpcm.formatCode = 0x11
        adpcm.bitsPerSample = 4
        adpcm.blockAlign = 256
        adpcm.fmtSize = 20
        try expectFailure(input: write(adpcm, "adpcm.wav"), problem: ["IMA ADPCM", "0x0011"])
    }

    func testNaNAndInfiniteFloatSamples() throws {
        try expectFailure(input: write(WAVBytes.float32(with: .nan), "nan.wav"), problem: ["frame 800", "NaN"])
        try expectFailure(input: write(WAVBytes.float32(with: .infinity), "inf.wav"), problem: ["frame 800"])
        try expectFailure(input: write(WAVBytes.float32(with: -.infinity), "minus-inf.wav"), problem: ["infinite"])
    }

    // MARK: - Not a readable file

    func testMissingInput() throws {
        try expectFailure(input: folder.appendingPathComponent("missing.wav"), problem: ["no such file"])
    }

    func testDirectoryNamedLikeAWAVFile() throws {
        let directory = folder.appendingPathComponent("x.wav")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try expectFailure(input: directory, problem: ["directory"])
    }

    /// Opening a FIFO for reading waits for a writer: apply and info must refuse it, not hang.
    func testNamedPipeIsRefusedWithoutWaiting() throws {
        let fifo = folder.appendingPathComponent("pipe.wav")
        XCTAssertEqual(mkfifo(fifo.path, 0o644), 0)
        try expectFailure(input: fifo, problem: ["pipe or device"])
        let info = try DenoiseRunner.run(["info", fifo.path], timeout: 20)
        XCTAssertEqual(info.status, 1, info.stderr)
        XCTAssertEqual(info.stderrLines, ["error: \(fifo.path): is a pipe or device, not a WAV file"])

        let good = try write(WAVBytes(), "good.wav")
        let batch = try DenoiseRunner.run(["apply", "-m", model.path, "-o", outputs.path, fifo.path, good.path],
                                          timeout: 20)
        XCTAssertEqual(batch.status, 1, batch.stderr)
        XCTAssertEqual(Fixtures.tree(outputs), ["good.wav"])
    }

    func testDeviceIsRefused() throws {
        try expectFailure(input: URL(fileURLWithPath: "/dev/zero"), problem: ["pipe or device"])
    }

    /// setpriv, to drop root's privileges for the permission tests.
    private static let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    /// Runs denoise as it is when not root; as root, as user nobody through setpriv (skips without it). The
    /// test folder is opened to everyone so that nobody can write its outputs there.
    private func runUnprivileged(_ arguments: [String], file: StaticString = #filePath,
                                 line: UInt = #line) throws -> RunResult {
        guard Fixtures.isRoot else { return try DenoiseRunner.run(arguments, file: file, line: line) }
        guard let setpriv = Self.setpriv, let executable = DenoiseRunner.executable else {
            throw XCTSkip("running as root without setpriv: permission bits cannot be tested")
        }
        for url in [folder, outputs] {
            try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: url!.path)
        }
        return try DenoiseRunner.run(["--reuid=65534", "--regid=65534", "--clear-groups", executable.path] + arguments,
                                     program: URL(fileURLWithPath: setpriv), file: file, line: line)
    }

    func testUnreadableFile() throws {
        let url = try write(WAVBytes(), "locked.wav")
        try FileManager.default.setAttributes([.posixPermissions: 0], ofItemAtPath: url.path)
        defer { try? FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: url.path) }
        try expectFailure(input: url, problem: ["cannot open", "permission denied"], unprivileged: true)
    }

    // MARK: - Outputs that cannot be written

    func testOutputInAMissingFolder() throws {
        let input = try write(WAVBytes(), "good.wav")
        let output = folder.appendingPathComponent("no/such/folder/out.wav")
        try expectFailure(input: input, output: output, named: output.path, problem: ["does not exist"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("no").path))
    }

    func testOutputInAReadOnlyFolder() throws {
        let input = try write(WAVBytes(), "good.wav")
        let locked = folder.appendingPathComponent("locked")
        try FileManager.default.createDirectory(at: locked, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: locked.path)
        defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: locked.path) }
        let output = locked.appendingPathComponent("out.wav")
        try expectFailure(input: input, output: output, named: output.path,
                          problem: ["cannot create a file", "permission denied"], unprivileged: true)

        // A batch whose output folder cannot be created there: one line naming the folder and the reason.
        let batch = try runUnprivileged(["apply", "-m", model.path, "-o", locked.appendingPathComponent("sub").path,
                                         input.path])
        XCTAssertEqual(batch.status, 1, batch.stderr)
        XCTAssertEqual(batch.errorLines, ["error: \(input.path): \(locked.path)/sub: cannot create the output folder: "
                                          + "Permission denied"])
    }

    func testOutputThatIsADirectory() throws {
        let input = try write(WAVBytes(), "good.wav")
        let output = outputs.appendingPathComponent("taken.wav")
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let result = try DenoiseRunner.run(["apply", "-m", model.path, "--force", input.path, output.path])
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertEqual(result.stderrLines.count, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains(output.path), result.stderr)
        var isDirectory: ObjCBool = false
        XCTAssertTrue(FileManager.default.fileExists(atPath: output.path, isDirectory: &isDirectory))
        XCTAssertTrue(isDirectory.boolValue, "the folder must survive")
        XCTAssertEqual(Fixtures.temporaryFiles(in: outputs), [])
    }

    func testOutputThatIsTheInputThroughALink() throws {
        let input = try write(WAVBytes(), "good.wav")
        let original = try Data(contentsOf: input)
        let link = outputs.appendingPathComponent("link.wav")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: input)
        let result = try DenoiseRunner.run(["apply", "-m", model.path, "--force", input.path, link.path])
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertEqual(result.stderrLines.count, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains(link.path) && result.stderr.contains("input"), result.stderr)
        XCTAssertEqual(try Data(contentsOf: input), original)
        XCTAssertEqual(Fixtures.temporaryFiles(in: outputs), [])
    }

    // MARK: - Batch outputs that cannot be written

    func testBatchIntoAFileInsteadOfAFolderIsRefusedUpFront() throws {
        let input = try write(WAVBytes(), "good.wav")
        let notAFolder = try write(Data("x".utf8), "out.txt")
        let result = try DenoiseRunner.run(["apply", "-m", model.path, "-o", notAFolder.path, input.path])
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertEqual(result.stderrLines, ["error: \(notAFolder.path): exists and is not a folder; -o needs a folder"])
        XCTAssertEqual(try Data(contentsOf: notAFolder), Data("x".utf8))
    }

    func testBatchGoesOnWhenAnOutputSubfolderIsBlockedByAFile() throws {
        let inputs = folder.appendingPathComponent("in")
        try FileManager.default.createDirectory(at: inputs.appendingPathComponent("sub"),
                                                withIntermediateDirectories: true)
        try WAVBytes().bytes.write(to: inputs.appendingPathComponent("a.wav"))
        try WAVBytes().bytes.write(to: inputs.appendingPathComponent("sub/b.wav"))
        let blocker = outputs.appendingPathComponent("sub")
        try Data("in the way".utf8).write(to: blocker)

        let result = try DenoiseRunner.run(["apply", "-m", model.path, "-o", outputs.path, inputs.path])
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertEqual(result.errorLines, ["error: \(inputs.path)/sub/b.wav: \(blocker.path): cannot create the output "
                                           + "folder: a file of that name is in the way"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: outputs.appendingPathComponent("a.wav").path))
        XCTAssertEqual(try Data(contentsOf: blocker), Data("in the way".utf8))
    }

    // MARK: - Bad model files

    /// `apply -m MODEL`, `info MODEL` and `bench --model MODEL` (before it measures anything) on a bad model: exit 1,
    /// one error line naming it and the problem.
    private func expectBadModel(_ url: URL, problem: [String], file: StaticString = #filePath,
                                line: UInt = #line) throws {
        let input = try write(WAVBytes(), "good.wav")
        let output = outputs.appendingPathComponent("out.wav")
        for arguments in [["apply", "-m", url.path, input.path, output.path], ["info", url.path],
                          ["bench", "--json", "--model", url.path]] {
            let result = try DenoiseRunner.run(arguments, file: file, line: line)
            let call = arguments.joined(separator: " ")
            XCTAssertEqual(result.status, 1, "\(call): \(result.stderr)", file: file, line: line)
            XCTAssertEqual(result.stdout, "", call, file: file, line: line)
            XCTAssertEqual(result.stderrLines.count, 1, "\(call):\n\(result.stderr)", file: file, line: line)
            let message = result.stderrLines.first ?? ""
            XCTAssertTrue(message.hasPrefix("error: \(url.path): "), "\(call): \(message)", file: file, line: line)
            for word in problem {
                XCTAssertTrue(message.contains(word), "\(call): '\(word)' not in \(message)", file: file, line: line)
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.path), file: file, line: line)
        XCTAssertEqual(Fixtures.temporaryFiles(in: outputs), [], file: file, line: line)
    }

    func testRandomBytesAsAModel() throws {
        var rng = SplitMix(seed: 11)
        try expectBadModel(write(rng.bytes(2048), "random.safetensors"), problem: ["not a valid model file"])
    }

    func testTruncatedModel() throws {
        let whole = try Data(contentsOf: model)
        try expectBadModel(write(whole.prefix(whole.count / 2), "half.safetensors"),
                           problem: ["not a valid model file"])
        try expectBadModel(write(whole.prefix(20), "header-cut.safetensors"), problem: ["not a valid model file"])
        try expectBadModel(write(whole.prefix(4), "tiny.safetensors"), problem: ["not a valid model file"])
    }

    func testModelOfAnotherFormatVersion() throws {
        var file = try SafeTensors.read(url: model)
        file.metadata["format"] = "denoise-model-99"
        let url = folder.appendingPathComponent("future.safetensors")
        try file.write(to: url)
        try expectBadModel(url, problem: ["'denoise-model-99' is not supported", DenoiseModel.formatVersions.last!])
    }

    func testModelWithNaNWeightsNamesTheTensor() throws {
        var file = try SafeTensors.read(url: model)
        var tensor = try XCTUnwrap(file.tensors["hidden0.linear.weight"])
        tensor.values[5] = .nan
        file.tensors["hidden0.linear.weight"] = tensor
        let url = folder.appendingPathComponent("nan.safetensors")
        try file.write(to: url)
        try expectBadModel(url, problem: ["'hidden0.linear.weight'", "NaN"])
    }

    func testModelLackingATensorNamesIt() throws {
        var file = try SafeTensors.read(url: model)
        file.tensors["output.linear.bias"] = nil
        let url = folder.appendingPathComponent("incomplete.safetensors")
        try file.write(to: url)
        try expectBadModel(url, problem: ["'output.linear.bias'"])
    }

    func testDirectoryAsAModel() throws {
        let url = folder.appendingPathComponent("dir.safetensors")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        try expectBadModel(url, problem: ["directory"])
    }
}
