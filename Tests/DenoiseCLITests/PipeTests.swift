@testable import DenoiseKit
import Foundation
import Synchronization
import XCTest

/// `denoise apply - -`: WAV from standard input to standard output, denoised as it arrives.
final class PipeTests: XCTestCase {
    private var folder: URL!
    private var model: URL!

    override func setUpWithError() throws {
        (folder, model) = try makeFolderWithTinyModel()
    }

    /// A 16 kHz mono 16-bit header with the sizes a streaming writer leaves: 0xFFFFFFFF.
    private func streamHeader() -> Data {
        var header = wav16(sampleRate: 16000, channels: [[]])
        header.replaceSubrange(4..<8, with: [0xFF, 0xFF, 0xFF, 0xFF])
        header.replaceSubrange(40..<44, with: [0xFF, 0xFF, 0xFF, 0xFF])
        return header
    }

    /// Bytes of one second of 16-bit speech-like signal (seeded, so each second differs).
    private func second(_ seed: UInt64) -> Data {
        let samples = Fixtures.speechLike(seconds: 1, sampleRate: 16000, seed: seed).channels[0]
        return wav16(sampleRate: 16000, channels: [samples.map { Int16(($0 * 32767).rounded()) }]).dropFirst(44)
    }

    /// Starts `denoise apply - -` writing to `standardOutput` (a `Pipe` or a `FileHandle`); returns the process and
    /// the pipe that is its standard input.
    private func startPipe(into standardOutput: Any) throws -> (Process, Pipe) {
        guard let executable = DenoiseRunner.executable else { throw ExecutableNotFound() }
        let process = Process()
        process.executableURL = executable
        process.arguments = ["apply", "-m", model.path, "-", "-"]
        let input = Pipe()
        process.standardInput = input
        process.standardOutput = standardOutput
        process.standardError = FileHandle.nullDevice
        try process.run()
        return (process, input)
    }

    /// `startPipe` with standard output redirected to the new file `target`.
    private func startPipeIntoFile(_ target: URL) throws -> (Process, Pipe) {
        XCTAssertTrue(FileManager.default.createFile(atPath: target.path, contents: nil))
        return try startPipe(into: FileHandle(forWritingTo: target))
    }

    func testOutputArrivesWhileTheInputIsStillComing() throws {
        let output = Pipe()
        let received = ReceivedBytes()
        let reading = output.fileHandleForReading
        let (process, input) = try startPipe(into: output)
        let drained = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            // availableData blocks until some bytes come, and is empty at the end.
            while case let data = reading.availableData, !data.isEmpty { received.append(data) }
            drained.signal()
        }

        try input.fileHandleForWriting.write(contentsOf: streamHeader() + second(1))
        // After 1 s of input, at least 0.5 s of output (the tiny model's latency is 4 ms), input still open.
        let deadline = Date().addingTimeInterval(30)
        while received.count < 44 + 16000 && Date() < deadline { usleep(2000) }
        XCTAssertGreaterThanOrEqual(received.count, 44 + 16000, "no output before the input ended")
        XCTAssertTrue(process.isRunning)

        try input.fileHandleForWriting.write(contentsOf: second(2))
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        drained.wait()
        XCTAssertEqual(process.terminationStatus, 0)

        let bytes = [UInt8](received.data)
        XCTAssertEqual(bytes.count, 44 + 2 * 32000, "as long as the input")
        XCTAssertEqual(Array(bytes[0..<4]), Array("RIFF".utf8))
        XCTAssertEqual(Array(bytes[4..<8]), [0xFF, 0xFF, 0xFF, 0xFF], "a pipe cannot go back to patch sizes")
        XCTAssertEqual(Array(bytes[40..<44]), [0xFF, 0xFF, 0xFF, 0xFF])
    }

    /// Standard output redirected to a file is written as the input comes too, and its sizes are patched at the end.
    func testOutputRedirectedToAFileGrowsWhileTheInputIsStillComing() throws {
        let target = folder.appendingPathComponent("out.wav")
        let (process, input) = try startPipeIntoFile(target)
        try input.fileHandleForWriting.write(contentsOf: streamHeader() + second(1))
        let size = { ((try? FileManager.default.attributesOfItem(atPath: target.path))?[.size] as? Int) ?? 0 }
        let deadline = Date().addingTimeInterval(30)
        while size() < 44 + 16000 && Date() < deadline { usleep(2000) }
        XCTAssertGreaterThanOrEqual(size(), 44 + 16000, "nothing in the file before the input ended")
        XCTAssertTrue(process.isRunning)
        try input.fileHandleForWriting.write(contentsOf: second(2))
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        XCTAssertEqual(try WAVReader(url: target).frameCount, 32000, "sizes patched to the whole stream")
    }

    /// The pipe steps the network on whatever frames have arrived, so its matrix products run on other batch sizes
    /// than the file's, and OpenBLAS may round those differently in the last bit: the audio is the file's to within
    /// one step of 16-bit PCM. Fed in uneven pieces, as a slow or loaded producer delivers them.
    func testPipeGivesTheSameAudioAsFilesToWithinOnePCMStep() throws {
        let source = folder.appendingPathComponent("in.wav"), direct = folder.appendingPathComponent("direct.wav")
        let dataSize = Data([0x00, 0x7D, 0x00, 0x00])  // 32000 bytes
        let bytes = wav16(sampleRate: 16000, channels: [[]]).prefix(40) + dataSize + second(3)
        try bytes.write(to: source)
        XCTAssertEqual(try DenoiseRunner.run(["apply", "-m", model.path, source.path, direct.path]).status, 0)

        let piped = folder.appendingPathComponent("piped.wav")
        let (process, input) = try startPipeIntoFile(piped)
        var offset = 0, piece = 0
        while offset < bytes.count {
            let size = [2, 64, 513, 3000][piece % 4]
            try input.fileHandleForWriting.write(contentsOf: bytes[offset..<min(bytes.count, offset + size)])
            offset += size
            piece += 1
            usleep(500)
        }
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)

        let fromPipe = try Fixtures.pcm16Samples(piped), fromFile = try Fixtures.pcm16Samples(direct)
        XCTAssertEqual(fromPipe.count, fromFile.count)
        let steps = zip(fromPipe, fromFile).map { abs(Int($0) - Int($1)) }
        XCTAssertLessThanOrEqual(steps.max() ?? 0, 1)
        XCTAssertLessThan(steps.filter { $0 > 0 }.count, fromFile.count / 100, "more than last-bit rounding")
    }

    func testDashWithAFolderBatchOrBatchOptionsIsAUsageError() throws {
        let input = folder.appendingPathComponent("in.wav")
        try (streamHeader() + second(1)).write(to: input)
        for arguments in [["-o", "-", input.path], ["-o", folder.appendingPathComponent("out").path, "-"],
                          ["--skip-existing", input.path, "-"], ["--report", "r.jsonl", "-", "-"]] {
            let result = try DenoiseRunner.run(["apply", "-m", model.path] + arguments)
            XCTAssertEqual(result.status, 64, "\(arguments): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains("usage: denoise apply"), result.stderr)
        }
    }
}

/// Bytes collected from a pipe on another thread.
private final class ReceivedBytes: Sendable {
    private let bytes = Mutex(Data())

    func append(_ data: Data) {
        bytes.withLock { $0 += data }
    }

    var data: Data { bytes.withLock { $0 } }

    var count: Int { data.count }
}
