import CLADSPA
import DenoiseKit
import Foundation

/// Why the plugin could not start; `instantiate` prints it as one line and returns NULL.
enum PluginError: Error, CustomStringConvertible {
    case missingModel(path: String)
    case noModel(searched: [String])
    case unreadableModel(path: String, reason: String)
    case wholeUtteranceModel(path: String, norm: String)
    case unsupportedRate(Int)

    var description: String {
        switch self {
        case .missingModel(let path):
            return "\(path): no such model file (named by $DENOISE_LADSPA_MODEL)"
        case .noModel(let searched):
            return "no model found (looked for \(searched.joined(separator: ", "))); set DENOISE_LADSPA_MODEL"
        case .unreadableModel(let path, let reason):
            return "\(path): \(reason)"
        case .wholeUtteranceModel(let path, let norm):
            return "\(path): its \(norm) normalisation needs the whole recording, so it cannot run live; "
                + "use a streaming model such as denoise-realtime.safetensors"
        case .unsupportedRate(let rate):
            return "sample rate \(rate) Hz is not supported"
        }
    }
}

/// Finds and loads the plugin's model: `$DENOISE_LADSPA_MODEL`, else `denoise-realtime.safetensors` beside the
/// library, else the one bundled in the package's `samples/` (found through this file's path at build time, so
/// it works for a library built in, and left in, a checkout).
enum PluginModel {
    static let fileName = "denoise-realtime.safetensors"

    static func load(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> DenoiseModel {
        let url = try locate(environment: environment)
        let model: DenoiseModel
        do {
            model = try DenoiseModel.load(url: url)
        } catch {
            throw PluginError.unreadableModel(path: url.path, reason: String(describing: error))
        }
        // Such a model only gives output at the end of the stream, which a live host never reaches.
        guard model.net.config.norm.isFrameLocal else {
            throw PluginError.wholeUtteranceModel(path: url.path, norm: model.net.config.norm.rawValue)
        }
        return model
    }

    static func locate(environment: [String: String]) throws -> URL {
        if let path = environment["DENOISE_LADSPA_MODEL"], !path.isEmpty {
            guard FileManager.default.fileExists(atPath: path) else { throw PluginError.missingModel(path: path) }
            return URL(fileURLWithPath: path)
        }
        var candidates: [URL] = []
        // Beside the library as the host named it, then beside the file a symbolic link points to.
        if let library = libraryURL() {
            for url in [library, library.resolvingSymlinksInPath()] {
                let beside = url.deletingLastPathComponent().appendingPathComponent(fileName)
                if !candidates.contains(beside) { candidates.append(beside) }
            }
        }
        // Sources/DenoiseLADSPA/PluginModel.swift → package root → samples/.
        candidates.append(URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("samples").appendingPathComponent(fileName))
        if let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0.path) }) { return found }
        throw PluginError.noModel(searched: candidates.map(\.path))
    }

    /// The shared library this code was loaded from, as the host named it, or nil when it is linked into an
    /// executable (tests).
    private static func libraryURL() -> URL? {
        var info = DenoiseDlInfo()
        guard denoise_dladdr(#dsohandle, &info) != 0, let name = info.fileName else { return nil }
        let path = String(cString: name)
        guard path.hasSuffix(".so") else { return nil }
        return URL(fileURLWithPath: path)
    }
}
