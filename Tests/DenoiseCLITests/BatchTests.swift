@testable import DenoiseKit
import Foundation
import XCTest

/// Production batches end to end: shards, resumable runs, JSON Lines reports, WAV variants and the files
/// `--force` must never replace.
final class BatchTests: XCTestCase {
    private var folder: URL!
    private var model: URL!
    private var inputs: URL!

    override func setUpWithError() throws {
        (folder, model) = try makeFolderWithTinyModel()
        inputs = folder.appendingPathComponent("in")
    }

    private func apply(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> RunResult {
        try DenoiseRunner.run(["apply", "-m", model.path] + arguments, file: file, line: line)
    }

    /// Writes `names` (paths under `inputs`) as 0.1 s of 16 kHz speech-like signal each.
    private func writeInputs(_ names: [String]) throws {
        for (index, name) in names.enumerated() {
            let url = inputs.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(),
                                                    withIntermediateDirectories: true)
            try Fixtures.writeWAV(Fixtures.speechLike(seconds: 0.1, sampleRate: 16000, seed: UInt64(index)), to: url)
        }
    }

    /// The JSON objects of a report, one per line.
    private func reportLines(_ url: URL) throws -> [[String: Any]] {
        try String(decoding: Data(contentsOf: url), as: UTF8.self).split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any], String($0))
        }
    }

    private var tenNames: [String] { (0..<10).map { $0 % 3 == 0 ? "sub/f\($0).wav" : "f\($0).wav" } }

    // MARK: - Shards

    func testShardsCoverEveryFileExactlyOnce() throws {
        try writeInputs(tenNames)
        let outputs = folder.appendingPathComponent("out")
        var seen: [String] = []
        for k in 1...3 {
            let before = Set(Fixtures.tree(outputs))
            let result = try apply(["--shard", "\(k)/3", "-o", outputs.path, inputs.path])
            XCTAssertEqual(result.status, 0, result.stderr)
            let added = Set(Fixtures.tree(outputs)).subtracting(before)
            XCTAssertTrue(result.stderr.contains("\(added.count) of \(added.count) file"), result.stderr)
            seen += added
        }
        XCTAssertEqual(seen.sorted(), tenNames.sorted(), "the three shards together write every file once")
    }

    func testShardOfAFileDoesNotDependOnTheFolderOrTheOtherFiles() throws {
        try writeInputs(tenNames)
        let outputs = folder.appendingPathComponent("out")
        XCTAssertEqual(try apply(["--shard", "2/3", "-o", outputs.path, inputs.path]).status, 0)
        let chosen = Fixtures.tree(outputs)
        // The same tree under another folder, with extra files: the same files of it fall to shard 2.
        let moved = folder.appendingPathComponent("elsewhere/copy")
        try FileManager.default.createDirectory(at: moved.deletingLastPathComponent(),
                                                withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: inputs, to: moved)
        try Fixtures.writeWAV(Fixtures.speechLike(seconds: 0.1, sampleRate: 16000),
                              to: moved.appendingPathComponent("new.wav"))
        let other = folder.appendingPathComponent("out2")
        XCTAssertEqual(try apply(["--shard", "2/3", "-o", other.path, moved.path]).status, 0)
        XCTAssertEqual(Fixtures.tree(other).filter { $0 != "new.wav" }, chosen)
    }

    func testShardOutsideOneToNOrWithoutABatchIsAUsageError() throws {
        try writeInputs(["a.wav"])
        let outputs = folder.appendingPathComponent("out")
        for bad in ["0/3", "4/3", "x", "1/0", "2"] {
            let result = try apply(["--shard", bad, "-o", outputs.path, inputs.path])
            XCTAssertEqual(result.status, 64, bad)
            XCTAssertTrue(result.stderr.contains("--shard"), result.stderr)
            XCTAssertTrue(result.stderr.contains("usage: denoise apply"), result.stderr)
        }
        let single = try apply(["--shard", "1/2", inputs.appendingPathComponent("a.wav").path,
                                folder.appendingPathComponent("b.wav").path])
        XCTAssertEqual(single.status, 64, single.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: outputs.path))
    }

    // MARK: - Resumable runs and reports

    func testSkipExistingRedoesOnlyWhatIsMissingAndIgnoresLeftoverTemporaryFiles() throws {
        try writeInputs(["a.wav", "b.wav", "sub/c.wav"])
        let outputs = folder.appendingPathComponent("out")
        XCTAssertEqual(try apply(["-o", outputs.path, inputs.path]).status, 0)
        let kept = outputs.appendingPathComponent("a.wav")
        let keptBytes = try Data(contentsOf: kept)
        try Data("stale".utf8).write(to: kept)  // a finished output is never looked into, only found
        let redone = outputs.appendingPathComponent("sub/c.wav")
        try FileManager.default.removeItem(at: redone)
        // What a killed writer could leave: a temporary file beside the missing output does not count as done.
        let leftover = outputs.appendingPathComponent("sub/.c.wav.1a2b3c4d.tmp")
        try Data("partial".utf8).write(to: leftover)

        let rerun = try apply(["--skip-existing", "-o", outputs.path, inputs.path])
        XCTAssertEqual(rerun.status, 0, rerun.stderr)
        XCTAssertTrue(rerun.stderr.contains("1 of 3 files denoised, 2 skipped"), rerun.stderr)
        XCTAssertEqual(try Data(contentsOf: kept), Data("stale".utf8))
        XCTAssertEqual(try WAVReader(url: redone).frameCount, 1600)
        XCTAssertNotEqual(keptBytes.count, 0)

        let again = try apply(["--skip-existing", "-o", outputs.path, inputs.path])
        XCTAssertEqual(again.status, 0, "all done or skipped is a success: \(again.stderr)")
        XCTAssertTrue(again.stderr.contains("0 of 3 files denoised, 3 skipped"), again.stderr)
    }

    func testSkipExistingWithForceIsAUsageError() throws {
        try writeInputs(["a.wav"])
        let result = try apply(["--skip-existing", "--force", "-o", folder.appendingPathComponent("o").path,
                                inputs.path])
        XCTAssertEqual(result.status, 64, result.stderr)
    }

    func testReportHasOneLinePerInputAppendedAcrossRuns() throws {
        try writeInputs(["a.wav", "b.wav"])
        try Data("RIFF....WAVEjunk".utf8).write(to: inputs.appendingPathComponent("bad.wav"))
        let outputs = folder.appendingPathComponent("out"), report = folder.appendingPathComponent("run.jsonl")

        let first = try apply(["--report", report.path, "-o", outputs.path, inputs.path])
        XCTAssertEqual(first.status, 1, first.stderr)
        let lines = try reportLines(report)
        XCTAssertEqual(lines.count, 3)
        let byName = Dictionary(uniqueKeysWithValues: lines.map {
            (URL(fileURLWithPath: $0["input"] as? String ?? "").lastPathComponent, $0)
        })
        XCTAssertEqual(byName["a.wav"]?["status"] as? String, "done")
        XCTAssertEqual(byName["a.wav"]?["duration_s"] as? Double, 0.1)
        XCTAssertEqual(byName["a.wav"]?["clipped"] as? Int, 0)
        XCTAssertEqual(byName["a.wav"]?["truncated"] as? Bool, false)
        XCTAssertGreaterThan(byName["a.wav"]?["seconds"] as? Double ?? -1, 0)
        XCTAssertEqual(byName["a.wav"]?["output"] as? String, outputs.appendingPathComponent("a.wav").path)
        XCTAssertEqual(byName["bad.wav"]?["status"] as? String, "failed")
        XCTAssertTrue((byName["bad.wav"]?["error"] as? String ?? "").contains("bad.wav"), "\(lines)")

        let second = try apply(["--skip-existing", "--report", report.path, "-o", outputs.path, inputs.path])
        XCTAssertEqual(second.status, 1, second.stderr)
        let all = try reportLines(report)
        XCTAssertEqual(all.count, 6, "a rerun appends")
        XCTAssertEqual(all[3...].map { $0["status"] as? String }.sorted { ($0 ?? "") < ($1 ?? "") },
                       ["failed", "skipped", "skipped"])
    }

    func testSingleFileRunWritesOneReportLineAndSkipsWhenDone() throws {
        try writeInputs(["a.wav"])
        let input = inputs.appendingPathComponent("a.wav"), output = folder.appendingPathComponent("a-clean.wav")
        let report = folder.appendingPathComponent("one.jsonl")
        XCTAssertEqual(try apply(["--report", report.path, input.path, output.path]).status, 0)
        let rerun = try apply(["--skip-existing", "--report", report.path, input.path, output.path])
        XCTAssertEqual(rerun.status, 0, rerun.stderr)
        XCTAssertEqual(try reportLines(report).map { $0["status"] as? String }, ["done", "skipped"])
    }

    // MARK: - WAV variants

    func testDataChunkCutShortIsDenoisedWithAWarningAndCountedInTheReport() throws {
        try writeInputs(["whole.wav"])
        var bytes = try Data(contentsOf: inputs.appendingPathComponent("whole.wav"))
        bytes.removeLast(1000)  // the header still claims 3200 bytes of data
        let cut = inputs.appendingPathComponent("cut.wav")
        try bytes.write(to: cut)
        let output = folder.appendingPathComponent("cut-clean.wav"), report = folder.appendingPathComponent("r.jsonl")

        let result = try apply(["--report", report.path, cut.path, output.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("warning: \(cut.path): data chunk claims 3200 bytes but only 2200"),
                      result.stderr)
        XCTAssertEqual(try WAVReader(url: output).frameCount, 1100)
        XCTAssertEqual(try reportLines(report).first?["truncated"] as? Bool, true)
    }

    func testG711InputsAreWrittenAs16BitPCMWithANoteOnStderr() throws {
        for (code, name) in [(7, "mulaw"), (6, "alaw")] {
            var bytes = wav16(sampleRate: 8000, channels: [[0]])  // a template: fmt at 20, data size at 40
            bytes.replaceSubrange(20..<22, with: [UInt8(code), 0])
            bytes.replaceSubrange(28..<32, with: [0x40, 0x1F, 0, 0])  // 8000 bytes per second
            bytes.replaceSubrange(32..<36, with: [1, 0, 8, 0])  // block align 1, 8 bits
            bytes.replaceSubrange(40..<44, with: [0x40, 0x1F, 0, 0])  // 8000 one-byte samples
            bytes = bytes.prefix(44) + Data((0..<8000).map { UInt8(truncatingIfNeeded: $0 * 7) })
            let input = folder.appendingPathComponent("\(name).wav")
            let output = folder.appendingPathComponent("\(name)-out.wav")
            try bytes.write(to: input)
            let result = try apply([input.path, output.path])
            XCTAssertEqual(result.status, 0, result.stderr)
            XCTAssertTrue(result.stderr.contains("note: \(output.path): written as 16-bit PCM"), result.stderr)
            let written = try WAVReader(url: output)
            XCTAssertEqual(written.format.sampleFormat, .pcm16)
            XCTAssertEqual(written.frameCount, 8000)
        }
    }

    func testOutputNameWithoutTheWAVExtensionIsAUsageError() throws {
        try writeInputs(["a.wav"])
        let input = inputs.appendingPathComponent("a.wav")
        for name in ["x.flac", "x.mp3", "x", "x.wav.tmp"] {
            let output = folder.appendingPathComponent(name)
            let result = try apply([input.path, output.path])
            XCTAssertEqual(result.status, 64, name)
            XCTAssertTrue(result.stderr.contains(".wav"), result.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: output.path), name)
        }
        XCTAssertEqual(try apply([input.path, folder.appendingPathComponent("UPPER.WAV").path]).status, 0)
    }

    // MARK: - Nothing destroyed

    func testForceNeverReplacesAFolder() throws {
        try writeInputs(["a.wav"])
        let output = folder.appendingPathComponent("taken.wav")
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let result = try apply(["--force", inputs.appendingPathComponent("a.wav").path, output.path])
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertEqual(result.errorLines, ["error: \(output.path): is a folder; only a regular file may be replaced "
                                           + "by an output"])
        var isDirectory: ObjCBool = false
        XCTAssertTrue(FileManager.default.fileExists(atPath: output.path, isDirectory: &isDirectory))
        XCTAssertTrue(isDirectory.boolValue)
    }

    func testForceNeverReplacesANamedPipe() throws {
        try writeInputs(["a.wav"])
        let outputs = folder.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: outputs, withIntermediateDirectories: true)
        let fifo = outputs.appendingPathComponent("a.wav")
        XCTAssertEqual(mkfifo(fifo.path, 0o644), 0)
        let result = try DenoiseRunner.run(["apply", "-m", model.path, "--force", "-o", outputs.path, inputs.path],
                                           timeout: 20)
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains("\(fifo.path): is a named pipe (FIFO)"), result.stderr)
        var info = stat()
        XCTAssertEqual(lstat(fifo.path, &info), 0)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFIFO, "the FIFO must survive")
        XCTAssertEqual(Fixtures.temporaryFiles(in: outputs), [])
    }

    func testForceNeverReplacesADevice() throws {
        try writeInputs(["a.wav"])
        let outputs = folder.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: outputs, withIntermediateDirectories: true)
        let device = outputs.appendingPathComponent("a.wav")
        // A character device like /dev/null (major 1, minor 3); making one needs root.
        guard mknod(device.path, S_IFCHR | 0o666, dev_t(1 << 8 | 3)) == 0 else {  // Linux: major << 8 | minor
            throw XCTSkip("cannot make a device node here (not root)")
        }
        let result = try apply(["--force", "-o", outputs.path, inputs.path])
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains("\(device.path): is a device"), result.stderr)
        var info = stat()
        XCTAssertEqual(lstat(device.path, &info), 0)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFCHR, "the device must survive")
    }
}
