import Foundation
import XCTest

/// `--help`, `--version` and the help of each command, compared with snapshots in Snapshots/.
/// After an intended change of the help text, rerun with DENOISE_UPDATE_SNAPSHOTS=1 and review the diff.
final class HelpTests: XCTestCase {
    static let commands = ["train", "apply", "eval", "info", "blend", "bench"]

    func testHelpListsEveryCommandWithItsAbstract() throws {
        for arguments in [["--help"], ["-h"], [], ["help"]] {
            let result = try DenoiseRunner.run(arguments)
            XCTAssertEqual(result.status, 0, "denoise \(arguments)")
            XCTAssertEqual(result.stderr, "")
            XCTAssertTrue(result.stdout.contains("USAGE: denoise <command>"), result.stdout)
            let commandLines = result.stdout.split(separator: "\n")
                .filter { $0.hasPrefix("  ") && !$0.hasPrefix("   ") }
            for command in Self.commands {
                // Listed as "  name  abstract", so each command has a one-line description.
                XCTAssertTrue(commandLines.contains { $0.split(separator: " ").first.map(String.init) == command
                    && $0.split(separator: " ").count > 2 }, "\(command) missing from:\n\(result.stdout)")
            }
        }
    }

    func testOverviewMatchesSnapshot() throws {
        let result = try DenoiseRunner.run(["--help"])
        try assertSnapshot(result.stdout, named: "overview")
    }

    func testVersionPrintsNameAndVersion() throws {
        let result = try DenoiseRunner.run(["--version"])
        XCTAssertEqual(result.status, 0)
        XCTAssertEqual(result.stdout, "denoise 0.1.0\n")
        XCTAssertEqual(result.stderr, "")
    }

    func testEachCommandHelpExitsZeroAndMatchesSnapshot() throws {
        for command in Self.commands {
            let result = try DenoiseRunner.run([command, "--help"])
            XCTAssertEqual(result.status, 0, command)
            XCTAssertEqual(result.stderr, "", command)
            XCTAssertTrue(result.stdout.contains("USAGE: denoise \(command)"), result.stdout)
            try assertSnapshot(result.stdout, named: command)
        }
    }

    func testShortHelpAndHelpCommandPrintTheSameAsLongHelp() throws {
        let long = try DenoiseRunner.run(["apply", "--help"]).stdout
        XCTAssertEqual(try DenoiseRunner.run(["apply", "-h"]).stdout, long)
        XCTAssertEqual(try DenoiseRunner.run(["help", "apply"]).stdout, long)
        // Help wins over anything else on the line, even otherwise invalid arguments.
        XCTAssertEqual(try DenoiseRunner.run(["apply", "--mix", "7", "--help"]).stdout, long)
    }

    func testHelpShowsDefaultsAndFitsEightyColumns() throws {
        let train = try DenoiseRunner.run(["train", "--help"]).stdout
        XCTAssertTrue(train.contains("(default: 100)"), "epochs default missing:\n\(train)")
        XCTAssertTrue(train.contains("(default: 0.001)"), "lr default missing:\n\(train)")
        for command in Self.commands {
            let text = try DenoiseRunner.run([command, "--help"]).stdout
            for line in text.split(separator: "\n") {
                XCTAssertLessThanOrEqual(line.count, 80, "\(command): \(line)")
            }
        }
    }

    func testOptionDescriptionsStartInOneColumn() throws {
        let text = try DenoiseRunner.run(["apply", "--help"]).stdout
        let rows = text.split(separator: "\n").filter { $0.hasPrefix("  -") || $0.hasPrefix("      --") }
        // Each row is: spaces, the label, two or more spaces, the description.
        let columns = Set(rows.compactMap { row -> Int? in
            let label = row.drop { $0 == " " }
            guard let gap = label.range(of: "  ") else { return nil }
            let description = label[gap.lowerBound...].drop { $0 == " " }
            return row.distance(from: row.startIndex, to: description.startIndex)
        })
        XCTAssertEqual(columns.count, 1, "description columns \(columns) in:\n\(text)")
    }

    /// Compares `text` with Snapshots/<name>.txt beside this file (read through #filePath, so the snapshots
    /// need no SwiftPM resources). With DENOISE_UPDATE_SNAPSHOTS=1 the file is rewritten instead.
    private func assertSnapshot(_ text: String, named name: String, file: StaticString = #filePath,
                                line: UInt = #line) throws {
        let url = URL(fileURLWithPath: "\(#filePath)").deletingLastPathComponent()
            .appendingPathComponent("Snapshots").appendingPathComponent("\(name).txt")
        if ProcessInfo.processInfo.environment["DENOISE_UPDATE_SNAPSHOTS"] == "1" {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(),
                                                    withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
            return
        }
        guard let expected = try? String(contentsOf: url, encoding: .utf8) else {
            XCTFail("no snapshot \(url.path); record it with DENOISE_UPDATE_SNAPSHOTS=1", file: file, line: line)
            return
        }
        if text != expected {
            let got = text.split(separator: "\n", omittingEmptySubsequences: false)
            let want = expected.split(separator: "\n", omittingEmptySubsequences: false)
            let first = zip(got, want).enumerated().first { $0.element.0 != $0.element.1 }?.offset
                ?? min(got.count, want.count)
            XCTFail("""
                \(name) help differs from \(url.lastPathComponent) at line \(first + 1):
                  got:      \(first < got.count ? String(got[first]) : "<end>")
                  expected: \(first < want.count ? String(want[first]) : "<end>")
                (rerun with DENOISE_UPDATE_SNAPSHOTS=1 if the change is intended)
                """, file: file, line: line)
        }
    }
}
