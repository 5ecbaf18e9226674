import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Two entry points from one harness:
// - built with `-Xswiftc -sanitize=fuzzer,address -Xswiftc -DDENOISE_LIBFUZZER` (see .ci/fuzz), libFuzzer owns
//   `main` and calls `LLVMFuzzerTestOneInput`; the target comes from DENOISE_FUZZ_TARGET.
// - in the normal build, a small `main` runs the files given on the command line through the same harness,
//   which is how a crash file is reproduced under a debugger, and how `--write-seeds` makes the seed corpus.

let usage = """
    usage: denoise-fuzz --write-seeds DIR
           denoise-fuzz [--target wav|model] FILE|DIR ...   (default target: $DENOISE_FUZZ_TARGET)
    libFuzzer build: DENOISE_FUZZ_TARGET=wav|model denoise-fuzz [libFuzzer flags] [CORPUS_DIR ...]
    """

/// The target named by DENOISE_FUZZ_TARGET, or nil when it is unset.
func targetFromEnvironment() throws -> FuzzTarget? {
    guard let value = ProcessInfo.processInfo.environment[FuzzTarget.environmentVariable] else { return nil }
    guard let target = FuzzTarget(rawValue: value) else { throw UsageError("unknown fuzz target '\(value)'") }
    return target
}

struct UsageError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func fail(_ message: String, code: Int32) -> Never {
    FileHandle.standardError.write(Data("denoise-fuzz: \(message)\n".utf8))
    exit(code)
}

/// Handles `--write-seeds DIR` in either build: writes the seeds and exits.
func writeSeedsIfAsked(_ arguments: [String]) {
    guard let i = arguments.firstIndex(of: "--write-seeds") else { return }
    guard i + 1 < arguments.count else { fail("--write-seeds needs a folder\n\(usage)", code: 64) }
    do {
        let files = try SeedWriter.write(to: URL(fileURLWithPath: arguments[i + 1]))
        print("wrote \(files.count) seed files to \(arguments[i + 1])")
        exit(0)
    } catch {
        fail("\(error)", code: 1)
    }
}

#if DENOISE_LIBFUZZER

/// Made on the first input, after LLVMFuzzerInitialize has checked the environment.
private let libFuzzerHarness: FuzzHarness = {
    do {
        guard let target = try targetFromEnvironment() else {
            fail("set \(FuzzTarget.environmentVariable) to wav or model\n\(usage)", code: 64)
        }
        return FuzzHarness(target: target)
    } catch {
        fail("\(error)\n\(usage)", code: 64)
    }
}()

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<Int32>,
                             _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>)
    -> Int32 {
    var arguments: [String] = []
    if let vector = argv.pointee {
        for i in 0..<Int(argc.pointee) {
            if let argument = vector[i] { arguments.append(String(cString: argument)) }
        }
    }
    writeSeedsIfAsked(arguments)
    _ = libFuzzerHarness  // fail now, not on the first input, if the target is missing
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    libFuzzerHarness.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

#else

@main
enum FuzzMain {
    static func main() {
        var arguments = Array(CommandLine.arguments.dropFirst())
        writeSeedsIfAsked(arguments)
        var target: FuzzTarget?
        do { target = try targetFromEnvironment() } catch { fail("\(error)\n\(usage)", code: 64) }
        if let i = arguments.firstIndex(of: "--target") {
            guard i + 1 < arguments.count, let named = FuzzTarget(rawValue: arguments[i + 1]) else {
                fail("--target needs wav or model\n\(usage)", code: 64)
            }
            target = named
            arguments.removeSubrange(i...(i + 1))
        }
        guard let target, !arguments.isEmpty else { fail(usage, code: 64) }
        let harness = FuzzHarness(target: target)
        var count = 0
        for path in arguments {
            for file in files(at: path) {
                guard let data = FileManager.default.contents(atPath: file) else {
                    fail("cannot read \(file)", code: 1)
                }
                let outcome = data.withUnsafeBytes { harness.run($0) }
                print("\(file): \(outcome)")
                count += 1
            }
        }
        print("ran \(count) inputs through the \(target.rawValue) harness without a crash")
    }

    /// `path` itself, or the regular files directly inside it when it is a folder (sorted, for stable output).
    private static func files(at path: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            fail("no such file: \(path)", code: 1)
        }
        guard isDirectory.boolValue else { return [path] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.sorted().map { (path as NSString).appendingPathComponent($0) }.filter { file in
            var isFolder: ObjCBool = false
            return FileManager.default.fileExists(atPath: file, isDirectory: &isFolder) && !isFolder.boolValue
        }
    }
}

#endif
