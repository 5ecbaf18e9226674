import Foundation
import XCTest

/// What a run of the `denoise` executable produced.
struct RunResult {
    var status: Int32
    var stdout: String
    var stderr: String

    var stderrLines: [String] { stderr.split(separator: "\n").map(String.init) }
}

/// Failing (not skipping) keeps a broken search from silently turning every end-to-end test off.
struct ExecutableNotFound: Error, CustomStringConvertible {
    var description: String { "the denoise executable was not found beside the test bundle (set DENOISE_EXECUTABLE)" }
}

/// Runs the built `denoise` executable, as a user would.
enum DenoiseRunner {
    /// The executable sits in the products directory beside the test bundle: on Linux the bundle is the
    /// `.xctest` executable itself (Bundle.main points at its directory), on macOS a `.xctest` bundle.
    /// DENOISE_EXECUTABLE overrides the search.
    static let executable: URL? = {
        if let path = ProcessInfo.processInfo.environment["DENOISE_EXECUTABLE"] { return URL(fileURLWithPath: path) }
        var directories = [Bundle.main.bundleURL]
        if let executable = Bundle.main.executableURL { directories.append(executable.deletingLastPathComponent()) }
        directories.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            directories.append(bundle.bundleURL.deletingLastPathComponent())
        }
        return directories.map { $0.appendingPathComponent("denoise") }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }()

    /// Runs `denoise arguments...` with the test's environment plus `environment`, and waits (at most
    /// `timeout` seconds, then kills it). Fails the test if the process died by a signal.
    /// `program` runs another program instead (a shell, to call denoise as a user types it).
    static func run(_ arguments: [String], environment: [String: String] = [:], timeout: TimeInterval = 60,
                    currentDirectory: URL? = nil, program: URL? = nil,
                    file: StaticString = #filePath, line: UInt = #line) throws -> RunResult {
        guard let executable = program ?? executable else { throw ExecutableNotFound() }
        // Output goes to files rather than pipes, so a chatty process can never block on a full pipe.
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("denoise-run-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let outURL = directory.appendingPathComponent("stdout"), errURL = directory.appendingPathComponent("stderr")
        try Data().write(to: outURL)
        try Data().write(to: errURL)
        let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)

        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let currentDirectory { process.currentDirectoryURL = currentDirectory }
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let watchdog = DispatchWorkItem { process.terminate() }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
        process.waitUntilExit()
        watchdog.cancel()
        try out.close()
        try err.close()

        XCTAssertEqual(process.terminationReason, .exit,
                       "denoise \(arguments.joined(separator: " ")) died by signal \(process.terminationStatus)",
                       file: file, line: line)
        return RunResult(status: process.terminationStatus,
                         stdout: String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
                         stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
    }
}

/// A fresh temporary directory, removed at the end of the test.
extension XCTestCase {
    func makeTemporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("denoise-cli-test-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// A fresh temporary folder holding a tiny model, `tiny.safetensors`: what most end-to-end tests start from.
    func makeFolderWithTinyModel() throws -> (folder: URL, model: URL) {
        let folder = try makeTemporaryDirectory()
        let model = folder.appendingPathComponent("tiny.safetensors")
        try Fixtures.writeTinyModel(to: model)
        return (folder, model)
    }
}
