@testable import DenoiseKit
import Foundation
import XCTest

/// sox as a real LADSPA host: it dlopens the built libdenoise-ladspa.so from a clean environment, compensates
/// the reported latency (`-l`), and must give the audio `denoise apply` gives with the same model. It also reads
/// what `denoise apply` writes, as the next program in a pipeline would.
final class SoxHostTests: XCTestCase {
    /// The build's products folder: the test bundle sits in it (on Linux Bundle.main is the .xctest itself).
    private static let productsFolders: [URL] = {
        var folders = [Bundle.main.bundleURL]
        if let executable = Bundle.main.executableURL { folders.append(executable.deletingLastPathComponent()) }
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            folders.append(bundle.bundleURL.deletingLastPathComponent())
        }
        return folders
    }()

    private func built(_ name: String) throws -> URL {
        guard let url = SoxHostTests.productsFolders.map({ $0.appendingPathComponent(name) })
            .first(where: { FileManager.default.fileExists(atPath: $0.path) }) else {
            throw HostError("\(name) is not in the build folder (\(SoxHostTests.productsFolders.map(\.path))); "
                            + "build it with swift build --product \(name == "denoise" ? name : "denoise-ladspa")")
        }
        return url
    }

    private func sox() throws -> URL {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        guard let sox = path.split(separator: ":")
            .map({ URL(fileURLWithPath: String($0)).appendingPathComponent("sox") })
            .first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw XCTSkip("sox is not installed (apt-get install sox): the LADSPA host test cannot run")
        }
        return sox
    }

    /// Runs `program` with only PATH (and `environment`) set, as from a clean shell; returns status and stderr.
    private func run(_ program: URL, _ arguments: [String], environment: [String: String] = [:]) throws
        -> (status: Int32, stderr: String) {
        let process = Process()
        process.executableURL = program
        process.arguments = arguments
        process.environment = ["PATH": "/usr/local/bin:/usr/bin:/bin"].merging(environment) { $1 }
        let errors = FileManager.default.temporaryDirectory.appendingPathComponent("sox-\(UUID().uuidString).err")
        try Data().write(to: errors)
        defer { try? FileManager.default.removeItem(at: errors) }
        let handle = try FileHandle(forWritingTo: errors)
        process.standardError = handle
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try handle.close()
        return (process.terminationStatus, String(decoding: try Data(contentsOf: errors), as: UTF8.self))
    }

    private func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ladspa-sox-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// sox through the plugin and `denoise apply` with the real-time model: same length, SI-SDR ≥ 30 dB.
    private func checkSoxMatchesApply(_ input: URL, in folder: URL, file: StaticString = #filePath, line: UInt = #line)
        throws {
        let sox = try sox(), plugin = try built("libdenoise-ladspa.so"), denoise = try built("denoise")
        let viaSox = folder.appendingPathComponent("sox.wav"), viaApply = folder.appendingPathComponent("apply.wav")
        let hosted = try run(sox, [input.path, viaSox.path, "ladspa", "-l", plugin.path, "denoise_mono"])
        XCTAssertEqual(hosted.status, 0, "sox: \(hosted.stderr)", file: file, line: line)
        let applied = try run(denoise, ["apply", "-m", PluginFixtures.realtimeModelURL.path, input.path, viaApply.path])
        XCTAssertEqual(applied.status, 0, "denoise apply: \(applied.stderr)", file: file, line: line)
        let original = try WAVReader.read(url: input).buffer
        let a = try WAVReader.read(url: viaSox).buffer, b = try WAVReader.read(url: viaApply).buffer
        XCTAssertEqual(a.frameCount, original.frameCount, "sox output length", file: file, line: line)
        XCTAssertEqual(a.frameCount, b.frameCount, "sox and apply lengths", file: file, line: line)
        XCTAssertEqual(a.sampleRate, b.sampleRate, file: file, line: line)
        let sisdr = SignalMetrics.siSDR(reference: b.channels[0], estimate: a.channels[0])
        XCTAssertGreaterThanOrEqual(sisdr, 30, "SI-SDR between sox and apply at \(a.sampleRate) Hz",
                                    file: file, line: line)
        // Denoised, not passed through: the two paths agree with each other far better than with the input.
        let toInput = SignalMetrics.siSDR(reference: original.channels[0], estimate: a.channels[0])
        XCTAssertGreaterThan(sisdr, toInput + 20, file: file, line: line)
    }

    func testSoxThroughThePluginGivesWhatApplyGivesAt16kHz() throws {
        let input = PluginFixtures.packageRoot.appendingPathComponent("samples/noisy/arctic_axb_001.wav")
        try checkSoxMatchesApply(input, in: try folder())
    }

    func testSoxThroughThePluginGivesWhatApplyGivesAt48kHz() throws {
        let folder = try folder(), sox = try sox()
        let input = folder.appendingPathComponent("in48.wav")
        let source = PluginFixtures.packageRoot.appendingPathComponent("samples/noisy/libri_5703_001.wav")
        let made = try run(sox, [source.path, "-r", "48000", input.path])
        XCTAssertEqual(made.status, 0, made.stderr)
        try checkSoxMatchesApply(input, in: folder)
    }

    func testSoxReadsAFloatOutputOfApplyWithoutAWarning() throws {
        let sox = try sox(), denoise = try built("denoise"), folder = try folder()
        let source = PluginFixtures.packageRoot.appendingPathComponent("samples/noisy/arctic_axb_001.wav")
        let input = folder.appendingPathComponent("float.wav"), output = folder.appendingPathComponent("out.wav")
        let made = try run(sox, [source.path, "-e", "floating-point", "-b", "32", input.path])
        XCTAssertEqual(made.status, 0, made.stderr)
        let applied = try run(denoise, ["apply", "-m", PluginFixtures.realtimeModelURL.path, input.path, output.path])
        XCTAssertEqual(applied.status, 0, applied.stderr)
        XCTAssertEqual(try WAVReader.read(url: output).format.sampleFormat, .float32, "apply keeps the float format")
        let read = try run(sox, [output.path, "-n", "stat"])
        XCTAssertEqual(read.status, 0, read.stderr)
        XCTAssertFalse(read.stderr.contains("WARN"), "sox warns about apply's float header: \(read.stderr)")
    }

    func testAMissingModelIsOneClearLineAndSoxFails() throws {
        let sox = try sox(), plugin = try built("libdenoise-ladspa.so"), folder = try folder()
        let input = PluginFixtures.packageRoot.appendingPathComponent("samples/noisy/arctic_axb_001.wav")
        let missing = folder.appendingPathComponent("nowhere.safetensors").path
        let result = try run(sox, [input.path, folder.appendingPathComponent("out.wav").path,
                                   "ladspa", plugin.path, "denoise_mono"],
                             environment: ["DENOISE_LADSPA_MODEL": missing])
        XCTAssertNotEqual(result.status, 0)
        let lines = result.stderr.split(separator: "\n").filter { $0.hasPrefix("denoise-ladspa:") }
        XCTAssertEqual(lines, ["denoise-ladspa: \(missing): no such model file (named by $DENOISE_LADSPA_MODEL)"])
    }
}
