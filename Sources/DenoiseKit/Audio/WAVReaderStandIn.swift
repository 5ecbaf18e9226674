// TEMPORARY stand-in, replaced by the real reader at merge.
//
// Only what the CLI's `info` command needs to build and be tested before the real WAV reader lands:
// 16-bit PCM, "fmt " chunk before "data", other chunks skipped. Same public API as the real reader.

import Foundation

/// How samples are stored in a WAV file.
public enum WAVSampleFormat: Equatable, Sendable, CustomStringConvertible {
    case pcm8, pcm16, pcm24, pcm32, float32, float64

    public var bitsPerSample: Int {
        switch self {
        case .pcm8: return 8
        case .pcm16: return 16
        case .pcm24: return 24
        case .pcm32, .float32: return 32
        case .float64: return 64
        }
    }

    public var isFloat: Bool { self == .float32 || self == .float64 }

    public var description: String { isFloat ? "IEEE float \(bitsPerSample)-bit" : "PCM \(bitsPerSample)-bit" }
}

/// The layout of a WAV file's samples.
public struct WAVFormat: Equatable, Sendable {
    public var sampleFormat: WAVSampleFormat
    public var channelCount: Int
    public var sampleRate: Int

    public init(sampleFormat: WAVSampleFormat, channelCount: Int, sampleRate: Int) {
        self.sampleFormat = sampleFormat
        self.channelCount = channelCount
        self.sampleRate = sampleRate
    }
}

/// Why a WAV file could not be read; the description names the file and the problem.
public enum WAVError: Error, CustomStringConvertible {
    case cannotOpen(URL, reason: String)
    case notWAV(URL)
    case unsupported(URL, reason: String)
    case malformed(URL, reason: String)

    public var description: String {
        switch self {
        case let .cannotOpen(url, reason): return "cannot open \(url.path): \(reason)"
        case let .notWAV(url): return "\(url.path) is not a WAV file (no RIFF/WAVE header)"
        case let .unsupported(url, reason): return "\(url.path): unsupported WAV format: \(reason)"
        case let .malformed(url, reason): return "\(url.path): malformed WAV file: \(reason)"
        }
    }
}

/// Reads a 16-bit PCM WAV file in chunks of frames.
public final class WAVReader {
    public let url: URL
    public let format: WAVFormat
    /// Frames (samples per channel) in the data chunk.
    public let frameCount: Int

    private let handle: FileHandle
    private let bytesPerFrame: Int
    private var framesRead = 0

    public init(url: URL) throws {
        self.url = url
        do {
            handle = try FileHandle(forReadingFrom: url)
        } catch {
            throw WAVError.cannotOpen(url, reason: (error as NSError).localizedDescription)
        }
        let header = try Self.read(handle, 12, url)
        guard header.count == 12, Self.tag(header, 0) == "RIFF", Self.tag(header, 8) == "WAVE" else {
            throw WAVError.notWAV(url)
        }
        var format: WAVFormat?
        while true {
            let chunkHeader = try Self.read(handle, 8, url)
            guard chunkHeader.count == 8 else { throw WAVError.malformed(url, reason: "no data chunk") }
            let id = Self.tag(chunkHeader, 0)
            let size = Int(Self.uint32(chunkHeader, 4))
            if id == "fmt " {
                let body = try Self.read(handle, size, url)
                guard size >= 16, body.count == size else { throw WAVError.malformed(url, reason: "short fmt chunk") }
                let tag = Self.uint16(body, 0)
                let channels = Int(Self.uint16(body, 2))
                let rate = Int(Self.uint32(body, 4))
                let bits = Int(Self.uint16(body, 14))
                guard tag == 1 || tag == 0xFFFE, bits == 16 else {
                    let found = "format tag \(tag), \(bits) bits"
                    throw WAVError.unsupported(url, reason: "\(found) (the stand-in reads 16-bit PCM only)")
                }
                guard channels > 0, rate > 0 else {
                    throw WAVError.malformed(url, reason: "\(channels) channels at \(rate) Hz")
                }
                format = WAVFormat(sampleFormat: .pcm16, channelCount: channels, sampleRate: rate)
                if size % 2 == 1 { _ = try Self.read(handle, 1, url) }
            } else if id == "data" {
                guard let format else { throw WAVError.malformed(url, reason: "data chunk before fmt chunk") }
                self.format = format
                bytesPerFrame = 2 * format.channelCount
                let offset = (try? handle.offset()) ?? 0
                let fileSize = (try? handle.seekToEnd()) ?? offset
                do { try handle.seek(toOffset: offset) } catch {
                    throw WAVError.cannotOpen(url, reason: "\(error)")
                }
                frameCount = min(size, Int(fileSize - offset)) / bytesPerFrame
                return
            } else {
                let skip = UInt64(size + size % 2)
                do { try handle.seek(toOffset: try handle.offset() + skip) } catch {
                    throw WAVError.malformed(url, reason: "truncated chunk '\(id)'")
                }
            }
        }
    }

    deinit { try? handle.close() }

    /// The next `maxFrames` frames (fewer at the end of the file), or nil once every frame has been read.
    public func read(maxFrames: Int) throws -> AudioBuffer? {
        let count = min(maxFrames, frameCount - framesRead)
        guard count > 0 else { return nil }
        let bytes = try Self.read(handle, count * bytesPerFrame, url)
        guard bytes.count == count * bytesPerFrame else { throw WAVError.malformed(url, reason: "truncated data") }
        let channelCount = format.channelCount
        var channels = [[Float]](repeating: [Float](repeating: 0, count: count), count: channelCount)
        bytes.withUnsafeBytes { raw in
            for frame in 0..<count {
                for channel in 0..<channelCount {
                    let offset = 2 * (frame * channelCount + channel)
                    let bits = UInt16(raw[offset]) | UInt16(raw[offset + 1]) << 8
                    channels[channel][frame] = Float(Int16(bitPattern: bits)) / 32768
                }
            }
        }
        framesRead += count
        return AudioBuffer(channels: channels, sampleRate: format.sampleRate)
    }

    private static func read(_ handle: FileHandle, _ count: Int, _ url: URL) throws -> [UInt8] {
        do { return [UInt8](try handle.read(upToCount: count) ?? Data()) } catch {
            throw WAVError.cannotOpen(url, reason: "\(error)")
        }
    }

    private static func tag(_ bytes: [UInt8], _ at: Int) -> String {
        String(decoding: bytes[at..<(at + 4)], as: UTF8.self)
    }

    private static func uint16(_ bytes: [UInt8], _ at: Int) -> UInt16 { UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 }

    private static func uint32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[at + $1]) << (8 * $1) }
    }
}
