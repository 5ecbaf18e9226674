import DenoiseKit
import Foundation

/// Writes a seed corpus of small valid inputs: `DIR/wav/*.wav` and `DIR/model/*.safetensors`.
///
/// WAVs come from `WAVWriter` (8/16/24/32-bit PCM, float32/64, extensible, stereo and 3 channels) plus
/// hand-built files for header shapes the writer never produces (plain 24-bit fmt, fmt after LIST and data,
/// odd-sized chunks with their pad byte, extensible float, fewer valid bits than the container, full-scale
/// 32-bit, no frames).
/// Models are tiny MaskNets of each kind, small enough for `-max_len=65536`.
enum SeedWriter {
    /// Frames per generated WAV: small, so that every mutation runs fast (the fuzzer grows files as it likes).
    private static let frames = 64

    /// Returns the files written.
    @discardableResult
    static func write(to folder: URL) throws -> [URL] {
        let wavFolder = folder.appendingPathComponent("wav")
        let modelFolder = folder.appendingPathComponent("model")
        for sub in [wavFolder, modelFolder] {
            do { try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true) } catch {
                throw FuzzSetupError.seeds(path: sub.path, reason: "\(error)")
            }
        }
        var written: [URL] = []

        let generated: [(String, WAVSampleFormat, Int, Int)] = [
            ("pcm8-mono-8k", .pcm8, 1, 8000),
            ("pcm16-mono-16k", .pcm16, 1, 16000),
            ("pcm16-stereo-44k", .pcm16, 2, 44100),
            ("pcm24-mono-48k-extensible", .pcm24, 1, 48000),
            ("pcm32-mono-16k-extensible", .pcm32, 1, 16000),
            ("float32-stereo-16k", .float32, 2, 16000),
            ("float64-mono-22k", .float64, 1, 22050),
            ("pcm16-3ch-16k-extensible", .pcm16, 3, 16000),
        ]
        for (name, sampleFormat, channels, rate) in generated {
            let url = wavFolder.appendingPathComponent(name + ".wav")
            let buffer = AudioBuffer(channels: (0..<channels).map { tone(channel: $0, rate: rate) }, sampleRate: rate)
            try WAVWriter.write(buffer, to: url, format: WAVFormat(sampleFormat: sampleFormat, channelCount: channels,
                                                                    sampleRate: rate))
            written.append(url)
        }
        for (name, bytes) in handBuiltWAVs() {
            let url = wavFolder.appendingPathComponent(name + ".wav")
            try save(Data(bytes), to: url)
            written.append(url)
        }

        let models: [(String, MaskNetConfig, SafeTensors.Precision)] = [
            ("mlp-layer", MaskNetConfig(kind: .mlp, bins: 33, context: 1, hidden: 8, hiddenLayers: 1), .float32),
            ("mlp-batchnorm", MaskNetConfig(kind: .mlp, bins: 33, context: 0, hidden: 4, hiddenLayers: 1,
                                            norm: .batch), .float32),
            ("cnn-group-float16", MaskNetConfig(kind: .cnn, bins: 33, hidden: 4, kernelSize: 3, dilations: [1, 2],
                                                norm: .group, groups: 2), .float16),
        ]
        for (name, config, precision) in models {
            let url = modelFolder.appendingPathComponent(name + ".safetensors")
            let model = try DenoiseModel(config: config, stft: STFTConfig(nFFT: 64, hop: 32), sampleRate: 16000)
            try model.save(to: url, precision: precision)
            written.append(url)
        }
        return written
    }

    /// A 440 Hz tone at half scale, each channel a quarter period later than the one before.
    private static func tone(channel: Int, rate: Int) -> [Float] {
        (0..<frames).map { n in
            Float(0.5 * sin(2 * Double.pi * 440 * Double(n) / Double(rate) + Double(channel) * Double.pi / 2))
        }
    }

    private static func handBuiltWAVs() -> [(String, [UInt8])] {
        let pcm24 = (0..<8).flatMap { le(($0 * 0x12345) & 0xFFFFFF, 3) }
        let pcm8 = (0..<7).map { UInt8(120 + $0) }
        let float32 = (0..<8).flatMap { le(Int(Float(Double($0) / 8 - 0.5).bitPattern), 4) }
        let pcm24x2 = (0..<8).flatMap { le(($0 * 0x10) << 4 & 0xFFFFFF, 3) }
        return [
            // Plain (non-extensible) 16-byte fmt for 24-bit, behind an odd-sized LIST chunk and its pad byte.
            ("pcm24-plain-after-list", riff([("LIST", Array("INFOx".utf8)), ("fmt ", fmt(code: 1, channels: 1,
                rate: 16000, bits: 24)), ("data", pcm24)])),
            // Data first, odd-sized (7 bytes, then a pad), fmt last, an unknown chunk in between.
            ("pcm8-data-before-fmt", riff([("data", pcm8), ("junk", [1, 2, 3]), ("fmt ", fmt(code: 1, channels: 1,
                rate: 8000, bits: 8))])),
            // IEEE float inside an extensible fmt, stereo (the writer uses the plain 18-byte fmt for float).
            ("float32-extensible", riff([("fmt ", extensibleFmt(channels: 2, rate: 16000, bits: 32, validBits: 32,
                subFormat: 3)), ("data", float32)])),
            // Extensible, 20 valid bits in a 24-bit container, two channels.
            ("pcm24-valid20-extensible", riff([("fmt ", extensibleFmt(channels: 2, rate: 48000, bits: 24,
                validBits: 20, subFormat: 1)), ("data", pcm24x2)])),
            // Full-scale 32-bit PCM: Int32.min and Int32.max, which is exactly 1 once rounded to Float.
            ("pcm32-full-scale", riff([("fmt ", fmt(code: 1, channels: 1, rate: 16000, bits: 32)),
                                       ("data", le(Int(Int32.min), 4) + le(Int(Int32.max), 4))])),
            // A valid header and no frames at all.
            ("pcm16-no-frames", riff([("fmt ", fmt(code: 1, channels: 1, rate: 16000, bits: 16)), ("data", [])])),
        ]
    }

    /// The 16-byte fmt body: tag, channels, rate, byte rate, block align, bits.
    private static func fmt(code: Int, channels: Int, rate: Int, bits: Int) -> [UInt8] {
        let blockAlign = channels * bits / 8
        return le(code, 2) + le(channels, 2) + le(rate, 4) + le(rate * blockAlign, 4) + le(blockAlign, 2) + le(bits, 2)
    }

    /// The 40-byte WAVE_FORMAT_EXTENSIBLE fmt body; `subFormat` goes into the KSDATAFORMAT GUID.
    private static func extensibleFmt(channels: Int, rate: Int, bits: Int, validBits: Int, subFormat: Int) -> [UInt8] {
        let guidTail: [UInt8] = [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71]
        let mask = (1 << channels) - 1
        return fmt(code: 0xFFFE, channels: channels, rate: rate, bits: bits) + le(22, 2) + le(validBits, 2)
            + le(mask, 4) + le(subFormat, 2) + guidTail
    }

    /// A RIFF/WAVE file of the given chunks, each odd-sized body followed by a pad byte.
    private static func riff(_ chunks: [(String, [UInt8])]) -> [UInt8] {
        var body = Array("WAVE".utf8)
        for (id, bytes) in chunks {
            body += Array(id.utf8) + le(bytes.count, 4) + bytes
            if bytes.count % 2 == 1 { body.append(0) }
        }
        return Array("RIFF".utf8) + le(body.count, 4) + body
    }

    private static func le(_ value: Int, _ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
    }

    private static func save(_ data: Data, to url: URL) throws {
        do { try data.write(to: url) } catch { throw FuzzSetupError.seeds(path: url.path, reason: "\(error)") }
    }
}
