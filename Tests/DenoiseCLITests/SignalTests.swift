@testable import DenoiseKit
import Foundation
import XCTest

/// `apply` asked to stop by a signal while it writes: it removes its temporary file, writes no partial output,
/// exits with 128 + the signal, and a rerun with --skip-existing finishes the batch.
final class SignalTests: XCTestCase {
    private var folder: URL!
    private var model: URL!

    override func setUpWithError() throws {
        (folder, model) = try makeFolderWithTinyModel()
    }

    func testTerminateCleansUpAndARerunWithSkipExistingFinishes() throws {
        try expectCleanStop(on: SIGTERM)
    }

    func testHangUpCleansUp() throws {
        try expectCleanStop(on: SIGHUP)
    }

    func testBrokenPipeCleansUp() throws {
        try expectCleanStop(on: SIGPIPE)
    }

    func testCtrlCCleansUp() throws {
        try expectCleanStop(on: SIGINT)
    }

    /// A batch of a long file (first) and two short ones gets `signal` while the long one is being written.
    private func expectCleanStop(on signal: Int32, file: StaticString = #filePath, line: UInt = #line) throws {
        guard let executable = DenoiseRunner.executable else { throw ExecutableNotFound() }
        let inputs = folder.appendingPathComponent("in"), outputs = folder.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: inputs, withIntermediateDirectories: true)
        // A minute at 16 kHz: the temporary output exists for a good part of a second, and the signal is sent as
        // soon as it appears.
        let second = Fixtures.speechLike(seconds: 1, sampleRate: 16000).channels[0]
        let minute = AudioBuffer(channels: [Array([[Float]](repeating: second, count: 60).joined())],
                                 sampleRate: 16000)
        try Fixtures.writeWAV(minute, to: inputs.appendingPathComponent("a-long.wav"))
        for name in ["b.wav", "c.wav"] {
            try Fixtures.writeWAV(Fixtures.speechLike(seconds: 0.1, sampleRate: 16000),
                                  to: inputs.appendingPathComponent(name))
        }

        let process = Process()
        process.executableURL = executable
        process.arguments = ["apply", "-m", model.path, "-j", "1", "-o", outputs.path, inputs.path]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while Fixtures.temporaryFiles(in: outputs).isEmpty && process.isRunning && Date() < deadline {
            usleep(1000)
        }
        XCTAssertFalse(Fixtures.temporaryFiles(in: outputs).isEmpty, "no output was being written", file: file,
                       line: line)
        kill(process.processIdentifier, signal)
        process.waitUntilExit()

        XCTAssertEqual(process.terminationReason, .exit, "ended by the signal instead of cleaning up", file: file,
                       line: line)
        XCTAssertEqual(process.terminationStatus, 128 + signal, file: file, line: line)
        XCTAssertEqual(Fixtures.temporaryFiles(in: outputs), [], "temporary file left behind", file: file, line: line)
        XCTAssertFalse(Fixtures.tree(outputs).contains("a-long.wav"), "partial output", file: file, line: line)

        let rerun = try DenoiseRunner.run(["apply", "-m", model.path, "--skip-existing", "-o", outputs.path,
                                           inputs.path], timeout: 300, file: file, line: line)
        XCTAssertEqual(rerun.status, 0, rerun.stderr, file: file, line: line)
        XCTAssertEqual(Fixtures.tree(outputs), ["a-long.wav", "b.wav", "c.wav"], file: file, line: line)
        XCTAssertEqual(try WAVReader(url: outputs.appendingPathComponent("a-long.wav")).frameCount, 16000 * 60,
                       file: file, line: line)
    }
}
