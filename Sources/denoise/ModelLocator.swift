import DenoiseKit
import Foundation

/// Finds the model `apply` uses: `--model`, then `$DENOISE_MODEL`, then a model installed beside
/// the executable, then the default model bundled in the package's `samples/`.
enum ModelLocator {
    static let defaultFileName = "denoise-default.safetensors"

    struct Located {
        let url: URL
        /// How it was found, for `-v`.
        let source: String
    }

    static func locate(explicit: URL?,
                       environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Located {
        if let explicit { return Located(url: explicit, source: "--model") }
        if let path = environment["DENOISE_MODEL"], !path.isEmpty {
            let url = fileURL(path)
            // Say where the path came from: the user may have forgotten the variable is set.
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw CommandError("\(url.path): no such model file (named by $DENOISE_MODEL)")
            }
            return Located(url: url, source: "$DENOISE_MODEL")
        }
        let executable = executableURL().resolvingSymlinksInPath()
        let beside = executable.deletingLastPathComponent().appendingPathComponent(defaultFileName)
        if FileManager.default.fileExists(atPath: beside.path) {
            return Located(url: beside, source: "beside the executable")
        }
        if let bundled = bundled(defaultFileName) { return Located(url: bundled, source: "bundled default") }
        throw CommandError("no model found: give --model MODEL.safetensors, set DENOISE_MODEL, or put "
                           + "\(defaultFileName) beside the denoise executable")
    }

    /// The real-time (causal) model bundled in `samples/`.
    static let realTimeFileName = "denoise-realtime.safetensors"

    /// A model bundled in the package's `samples/`, if this build's source tree is still there.
    static func bundled(_ fileName: String) -> URL? {
        // Sources/denoise/ModelLocator.swift → package root → samples/.
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("samples").appendingPathComponent(fileName)
        return FileManager.default.fileExists(atPath: url.path) ? url : nil
    }

    /// The running executable. Not `CommandLine.arguments[0]`: run through PATH it is just "denoise",
    /// which would look for the model in the current folder. Foundation asks the system (/proc/self/exe
    /// on Linux).
    private static func executableURL() -> URL {
        Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
    }
}
