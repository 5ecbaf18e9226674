@testable import DenoiseKit
import Foundation
import XCTest

/// README's "Use from Swift" block, built as a user would: in a package of its own that depends on this one by
/// path, then run on a sample and compared with `denoise apply`.
final class ReadmeSwiftSnippetTests: XCTestCase {
    private static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The first ```swift block after the "## Use from Swift" heading.
    static func snippet() throws -> String {
        let readme = try String(contentsOf: packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        guard let section = readme.range(of: "\n## Use from Swift\n"),
              let open = readme.range(of: "```swift\n", range: section.upperBound..<readme.endIndex),
              let close = readme.range(of: "\n```", range: open.upperBound..<readme.endIndex) else {
            throw SnippetError("README.md has no ```swift block under \"## Use from Swift\"")
        }
        return String(readme[open.upperBound..<close.lowerBound]) + "\n"
    }

    func testTheReadmeSnippetBuildsAndDenoisesAsApplyDoes() throws {
        let code = try Self.snippet()
        XCTAssertTrue(code.contains("CommandLine.arguments[3]") || code.contains("arguments[3]"),
                      "the snippet takes model, input and output from its arguments")
        let folder = try makeTemporaryDirectory()
        let package = folder.appendingPathComponent("snippet")
        let sources = package.appendingPathComponent("Sources/snippet")
        try FileManager.default.createDirectory(at: sources, withIntermediateDirectories: true)
        try code.write(to: sources.appendingPathComponent("main.swift"), atomically: true, encoding: .utf8)
        // A path dependency is named by its folder's last component.
        let identity = Self.packageRoot.lastPathComponent.lowercased()
        let manifest = """
            // swift-tools-version:6.0
            import PackageDescription

            let package = Package(
                name: "snippet",
                dependencies: [.package(path: "\(Self.packageRoot.path)")],
                targets: [
                    .executableTarget(name: "snippet",
                                      dependencies: [.product(name: "DenoiseKit", package: "\(identity)")]),
                ]
            )

            """
        try manifest.write(to: package.appendingPathComponent("Package.swift"), atomically: true, encoding: .utf8)

        let swift = try XCTUnwrap(Self.onPath("swift"), "no swift on PATH")
        let build = try DenoiseRunner.run(["build", "--package-path", package.path, "--product", "snippet"],
                                          timeout: 1200, program: swift)
        XCTAssertEqual(build.status, 0, "the README snippet did not build:\n\(build.stdout)\n\(build.stderr)")
        guard build.status == 0 else { return }
        let program = package.appendingPathComponent(".build/debug/snippet")

        let model = Self.packageRoot.appendingPathComponent("samples/denoise-default.safetensors")
        let input = Self.packageRoot.appendingPathComponent("samples/noisy/arctic_axb_001.wav")
        let fromSnippet = folder.appendingPathComponent("snippet.wav")
        let fromApply = folder.appendingPathComponent("apply.wav")
        let run = try DenoiseRunner.run([model.path, input.path, fromSnippet.path], timeout: 120, program: program)
        XCTAssertEqual(run.status, 0, run.stderr)
        let apply = try DenoiseRunner.run(["apply", "-m", model.path, input.path, fromApply.path])
        XCTAssertEqual(apply.status, 0, apply.stderr)

        let (snippetAudio, snippetFormat) = try WAVReader.read(url: fromSnippet)
        let (applyAudio, applyFormat) = try WAVReader.read(url: fromApply)
        let (noisy, _) = try WAVReader.read(url: input)
        XCTAssertEqual(snippetFormat, applyFormat)
        XCTAssertEqual(snippetAudio.frameCount, applyAudio.frameCount)
        // The same engine in one call and in blocks: equal to within one step of the 16-bit output.
        let worst = zip(snippetAudio.channels[0], applyAudio.channels[0]).map { abs($0 - $1) }.max() ?? .infinity
        XCTAssertLessThanOrEqual(worst, 1.5 / 32768)
        // And it denoised: the output is not the input.
        let changed = zip(snippetAudio.channels[0], noisy.channels[0]).map { abs($0 - $1) }.max() ?? 0
        XCTAssertGreaterThan(changed, 0.01)
    }

    private static func onPath(_ name: String) -> URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { URL(fileURLWithPath: String($0)).appendingPathComponent(name) }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }
}

struct SnippetError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
