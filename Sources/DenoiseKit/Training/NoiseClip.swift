import Foundation

/// A noise recording, with the category its file name gives (`vehicle-bus_02.wav` is a `vehicle-bus`) and the
/// source it came from (a folder, or the training pairs themselves).
public struct NoiseClip: Sendable {
    public let name: String
    public let category: String
    public let source: String
    public let samples: [Float]

    public init(name: String, samples: [Float], category: String? = nil, source: String = "") {
        self.name = name
        self.samples = samples
        self.category = category ?? NoiseClip.category(ofFileName: name)
        self.source = source
    }

    /// The file's stem without a trailing `_<digits>`: the naming of `../shared/data/noise_extra`.
    public static func category(ofFileName name: String) -> String {
        let stem = ((name as NSString).lastPathComponent as NSString).deletingPathExtension
        guard let underscore = stem.lastIndex(of: "_") else { return stem }
        let suffix = stem[stem.index(after: underscore)...]
        guard !suffix.isEmpty, suffix.allSatisfy(\.isNumber) else { return stem }
        return String(stem[..<underscore])
    }

    /// Pairs of clips, one from each list, that hold the same recording: the same samples, whatever their names or
    /// folders (a copy, a link, one folder given on both sides). Validation noise must be noise training never
    /// hears, or the validation figures flatter the model.
    public static func sameRecordings(_ training: [NoiseClip], _ heldOut: [NoiseClip])
        -> [(training: NoiseClip, heldOut: NoiseClip)] {
        guard !heldOut.isEmpty else { return [] }  // without held-out noise, nothing to hash
        let byRecording = Dictionary(grouping: training.filter { !$0.samples.isEmpty }, by: \.samples)
        return heldOut.flatMap { clip in (byRecording[clip.samples] ?? []).map { ($0, clip) } }
    }

    /// The clip's file: its folder and its name there.
    public var path: String { source.isEmpty ? name : (source as NSString).appendingPathComponent(name) }

    /// The WAV files under `folder` (recursively) at `sampleRate`, mono, named by their relative paths, with the
    /// folder as their source.
    public static func load(from folder: URL, sampleRate: Int) throws -> [NoiseClip] {
        try WAVFiles.relativePaths(under: folder).map { name in
            let samples = try WAVFiles.readMono(folder.appendingPathComponent(name), sampleRate: sampleRate).samples
            return NoiseClip(name: name, samples: samples, source: folder.path)
        }
    }
}
