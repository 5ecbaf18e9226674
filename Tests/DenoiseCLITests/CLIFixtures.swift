@testable import DenoiseKit
import Foundation
import XCTest

/// Models, signals and file checks shared by the end-to-end tests. Models are built here with DenoiseKit,
/// tiny (33 bins, 8 hidden units), so the tests never depend on the bundled default model and stay fast in
/// a debug build.
enum Fixtures {
    /// n_fft 64, hop 32 at 16 kHz: 33 bins, 2 ms frames.
    static let stft = STFTConfig(nFFT: 64, hop: 32)

    static func tinyConfig(speechHead: Bool = false) -> MaskNetConfig {
        MaskNetConfig(kind: .mlp, bins: 33, context: 1, hidden: 8, hiddenLayers: 1, speechHead: speechHead)
    }

    /// Writes a freshly initialised tiny MLP model to `url` and returns it.
    @discardableResult
    static func writeTinyModel(to url: URL, seed: UInt64 = 3, speechHead: Bool = false) throws -> DenoiseModel {
        let model = try DenoiseModel(config: tinyConfig(speechHead: speechHead), stft: stft, sampleRate: 16000,
                                     seed: seed)
        try model.save(to: url)
        return model
    }

    /// A tiny model whose mask is the same for every bin and frame: the output layer's weights are zero
    /// and its bias is `logit`, so the mask is sigmoid(logit) whatever the input (-20 gives 2e-9: "remove
    /// everything"). Lets tests predict the output exactly.
    static func writeConstantMaskModel(to url: URL, logit: Float) throws {
        var file = try DenoiseModel(config: tinyConfig(), stft: stft, sampleRate: 16000).safeTensors()
        for name in ["output.linear.weight", "output.linear.bias"] {
            guard let tensor = file.tensors[name] else { throw FixtureError("the tiny model has no tensor \(name)") }
            let value: Float = name.hasSuffix("bias") ? logit : 0
            file.tensors[name] = .init(shape: tensor.shape,
                                       values: [Float](repeating: value, count: tensor.values.count))
        }
        try file.write(to: url)
    }

    /// Something like voiced speech in noise: 8 harmonics of a fundamental that glides up by 60 Hz from a start
    /// of 110–270 Hz (set by seed and channel), amplitude modulated at a syllable rate of 4 Hz, plus uniform
    /// white noise of amplitude `noise`. Peak below 0.6. Channels differ in pitch and noise, so mix-ups show.
    static func speechLike(seconds: Double, sampleRate: Int, channels: Int = 1, seed: UInt64 = 1,
                           noise: Double = 0.03) -> AudioBuffer {
        let count = Int(seconds * Double(sampleRate))
        var rng = SplitMix(seed: seed)
        let data = (0..<channels).map { channel -> [Float] in
            var phase = 0.0
            return (0..<count).map { i -> Float in
                let t = Double(i) / Double(sampleRate)
                let f0 = 110 + 20 * Double(channel) + 10 * Double(seed % 8) + 60 * t / max(seconds, 1e-3)
                phase += 2 * Double.pi * f0 / Double(sampleRate)
                var voiced = 0.0
                for harmonic in 1...8 where Double(harmonic) * f0 < Double(sampleRate) / 2 {
                    voiced += sin(Double(harmonic) * phase) / Double(harmonic)
                }
                let envelope = 0.5 + 0.5 * sin(2 * Double.pi * 4 * t)
                return Float(0.25 * envelope * voiced + noise * rng.uniform())
            }
        }
        return AudioBuffer(channels: data, sampleRate: sampleRate)
    }

    static func writeWAV(_ buffer: AudioBuffer, to url: URL, format sampleFormat: WAVSampleFormat = .pcm16) throws {
        let format = WAVFormat(sampleFormat: sampleFormat, channelCount: buffer.channelCount,
                               sampleRate: buffer.sampleRate)
        try WAVWriter.write(buffer, to: url, format: format)
    }

    /// Names of the entries of `folder` that look like temporary files (".name.XXXX.tmp").
    static func temporaryFiles(in folder: URL) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { $0.hasPrefix(".") && $0.hasSuffix(".tmp") }
    }

    /// Relative paths of every file under `folder` (hidden ones included), sorted.
    static func tree(_ folder: URL) -> [String] {
        let root = folder.resolvingSymlinksInPath().path
        var files: [String] = []
        let enumerator = FileManager.default.enumerator(atPath: root)
        while let path = enumerator?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: root + "/" + path, isDirectory: &isDirectory),
               !isDirectory.boolValue {
                files.append(path)
            }
        }
        return files.sorted()
    }

    /// Integer codes of a 16-bit PCM file's samples, interleaved (read by hand from the data chunk, so
    /// comparisons are exact and independent of the library's reader).
    static func pcm16Samples(_ url: URL) throws -> [Int16] {
        let bytes = [UInt8](try Data(contentsOf: url))
        var offset = 12
        while offset + 8 <= bytes.count {
            let id = String(decoding: bytes[offset..<(offset + 4)], as: UTF8.self)
            let size = Int(bytes[offset + 4]) | Int(bytes[offset + 5]) << 8 | Int(bytes[offset + 6]) << 16
                | Int(bytes[offset + 7]) << 24
            if id == "data" {
                let body = bytes[(offset + 8)..<min(bytes.count, offset + 8 + size)]
                return stride(from: body.startIndex, to: body.endIndex - 1, by: 2).map {
                    Int16(bitPattern: UInt16(body[$0]) | UInt16(body[$0 + 1]) << 8)
                }
            }
            offset += 8 + size + (size & 1)
        }
        throw FixtureError("\(url.path): no data chunk")
    }

    /// True when the process runs as root, which reads and writes whatever the permission bits say.
    static var isRoot: Bool { getuid() == 0 }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A small deterministic generator for test signals and random bytes (SplitMix64).
struct SplitMix {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 52) - 1 }

    mutating func bytes(_ count: Int) -> Data { Data((0..<count).map { _ in UInt8(truncatingIfNeeded: next()) }) }
}

extension RunResult {
    var errorLines: [String] { stderrLines.filter { $0.hasPrefix("error: ") } }
}
