import Foundation
import XCTest

/// DESIGN.md's rules of the house that a reading of the sources can check: no cycles between the library's
/// folders, a leaf of kernels and constants that uses no other folder, FFTW only in DSP/ and BLAS only in NN/;
/// and STYLE.md's line length.
final class HouseRulesTests: XCTestCase {
    /// The package's root folder, found from this file's path.
    private static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// Sources/DenoiseKit.
    private static let library = packageRoot.appendingPathComponent("Sources/DenoiseKit")

    /// Folder name → the text of each of its Swift files, with comments and string literals removed.
    private static func folders() throws -> [String: [String]] {
        let fm = FileManager.default
        var result: [String: [String]] = [:]
        for folder in try fm.contentsOfDirectory(atPath: library.path) {
            let url = library.appendingPathComponent(folder)
            guard let files = try? fm.contentsOfDirectory(atPath: url.path) else { continue }
            result[folder] = try files.filter { $0.hasSuffix(".swift") }.map {
                strippingCommentsAndStrings(try String(contentsOf: url.appendingPathComponent($0), encoding: .utf8))
            }
        }
        return result
    }

    private static func strippingCommentsAndStrings(_ source: String) -> String {
        let patterns = [#"/\*[\s\S]*?\*/"#, #"//[^\n]*"#, #""""[\s\S]*?""""#, #""(?:[^"\\\n]|\\.)*""#]
        var text = source
        for pattern in patterns {
            text = text.replacingOccurrences(of: pattern, with: " ", options: .regularExpression)
        }
        return text
    }

    /// Names of the types and free functions each folder declares.
    private static func declarations(_ folders: [String: [String]]) throws -> [String: Set<String>] {
        let declaration = try NSRegularExpression(
            pattern: #"^(?:(?:public|internal|final|private|fileprivate|indirect|@\w+)\s+)*"#
                + #"(?:class|struct|enum|protocol|typealias|actor|func)\s+([A-Za-z_][A-Za-z0-9_]*)"#,
            options: .anchorsMatchLines)
        var result: [String: Set<String>] = [:]
        for (folder, files) in folders {
            for text in files {
                let range = NSRange(text.startIndex..., in: text)
                for match in declaration.matches(in: text, range: range) {
                    if let name = Range(match.range(at: 1), in: text) {
                        result[folder, default: []].insert(String(text[name]))
                    }
                }
            }
        }
        return result
    }

    /// Folder → the folders whose declarations it names.
    private static func dependencies() throws -> [String: Set<String>] {
        let folders = try folders()
        let declared = try declarations(folders)
        var owners: [String: Set<String>] = [:]
        for (folder, names) in declared { for name in names { owners[name, default: []].insert(folder) } }
        let word = try NSRegularExpression(pattern: #"[A-Za-z_][A-Za-z0-9_]*"#)
        var edges: [String: Set<String>] = [:]
        for (folder, files) in folders {
            edges[folder, default: []] = []
            for text in files {
                for match in word.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                    guard let range = Range(match.range, in: text),
                          let from = owners[String(text[range])] else { continue }
                    // A name declared in this folder too (a private helper, say) is this folder's own.
                    if from.contains(folder) { continue }
                    edges[folder, default: []].formUnion(from)
                }
            }
        }
        return edges
    }

    func testTheFoldersHaveNoCycles() throws {
        let edges = try Self.dependencies()
        XCTAssertGreaterThan(edges.count, 5, "expected the library's folders under \(Self.library.path)")
        // Depth-first search; a folder met again while still on the path closes a cycle.
        var finished: Set<String> = []
        func visit(_ folder: String, path: [String]) {
            if let start = path.firstIndex(of: folder) {
                XCTFail("folders depend on each other in a circle: "
                        + "\((path[start...] + [folder]).joined(separator: " → "))")
                return
            }
            guard !finished.contains(folder) else { return }
            for next in (edges[folder] ?? []).sorted() { visit(next, path: path + [folder]) }
            finished.insert(folder)
        }
        for folder in edges.keys.sorted() { visit(folder, path: []) }
    }

    func testTheKernelLeafUsesNoOtherFolder() throws {
        let edges = try Self.dependencies()
        XCTAssertEqual(edges["Kernels"], [], "Kernels/ must stay a leaf that every folder may use")
    }

    func testOnlyDSPTalksToFFTWAndOnlyNNToBLAS() throws {
        for (folder, files) in try Self.folders() {
            for text in files {
                if text.contains("import CFFTW3") { XCTAssertEqual(folder, "DSP", "FFTW imported outside DSP/") }
                if text.contains("import COpenBLAS") { XCTAssertEqual(folder, "NN", "BLAS imported outside NN/") }
            }
        }
    }

    /// STYLE.md allows lines of up to 120 columns; checked here so that reviews need not count.
    func testNoLineIsLongerThan120Columns() throws {
        let fm = FileManager.default
        var files = 0
        var offenders: [String] = []
        for top in ["Sources", "Tests"] {
            let folder = Self.packageRoot.appendingPathComponent(top)
            guard let entries = fm.enumerator(atPath: folder.path) else {
                XCTFail("no \(top)/ under \(Self.packageRoot.path)")
                continue
            }
            while let relative = entries.nextObject() as? String {
                guard relative.hasSuffix(".swift") else { continue }
                let text = try String(contentsOf: folder.appendingPathComponent(relative), encoding: .utf8)
                files += 1
                let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
                for (index, line) in lines.enumerated() where line.count > 120 {
                    offenders.append("\(top)/\(relative):\(index + 1): \(line.count) characters")
                }
            }
        }
        XCTAssertGreaterThan(files, 50, "expected the package's Swift files under \(Self.packageRoot.path)")
        XCTAssertTrue(offenders.isEmpty, "lines over 120 columns:\n" + offenders.joined(separator: "\n"))
    }
}
