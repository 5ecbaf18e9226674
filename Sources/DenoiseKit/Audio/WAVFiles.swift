import Foundation

enum FolderError: Error, CustomStringConvertible, Equatable {
    case notAFolder(String)

    var description: String {
        switch self {
        case let .notAFolder(path): return "\(path): not a folder"
        }
    }
}

/// Folders of WAV files, as training, batch denoising and evaluation walk them.
public enum WAVFiles {
    /// Relative paths of the `.wav` files (any case) under `folder`, sorted. A file may be a symbolic link to a WAV
    /// file elsewhere: it is listed under its own name.
    public static func relativePaths(under folder: URL) throws -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory),
              isDirectory.boolValue else {
            throw FolderError.notAFolder(folder.path)
        }
        // The enumerator may hand back paths under the folder as given or with its links resolved.
        let roots = [folder.standardizedFileURL.path, folder.standardizedFileURL.resolvingSymlinksInPath().path]
        var files: [String] = []
        let enumerator = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: [.isRegularFileKey])
        while let url = enumerator?.nextObject() as? URL {
            guard url.pathExtension.lowercased() == "wav" else { continue }
            let path = url.standardizedFileURL.path
            guard let root = roots.first(where: { path.hasPrefix($0 + "/") }) else { continue }
            files.append(String(path.dropFirst(root.count + 1)))
        }
        return files.sorted()
    }

    /// The samples of a WAV file as one channel (the mean of its channels), resampled to `sampleRate`
    /// when one is given; returns the rate of the samples.
    static func readMono(_ url: URL, sampleRate: Int? = nil) throws -> (samples: [Float], sampleRate: Int) {
        let (buffer, _) = try WAVReader.read(url: url)
        let rate = sampleRate ?? buffer.sampleRate
        return (Resampler.resample(buffer.mixedDown, from: buffer.sampleRate, to: rate), rate)
    }
}
