import Foundation

/// How one sample is stored in a WAV file's data chunk (little-endian, channels interleaved).
///
/// Integer PCM maps to Float as `x = n / 2^(bits-1)` (8-bit is unsigned: `x = (n - 128) / 128`), so every
/// integer sample is a value in [-1, 1) and survives a read → write round trip bit for bit (8, 16 and 24-bit;
/// 32-bit PCM keeps the 24 bits a Float can hold).
///
/// Three formats are read but not written (see `writable`): G.711 µ-law and A-law, expanded to 16-bit values
/// as ITU-T G.711 decodes them, and 24-bit samples in 4-byte containers under a plain PCM header, read like
/// WAVE_FORMAT_EXTENSIBLE's left-justified valid bits.
public enum WAVSampleFormat: Equatable, Sendable, CustomStringConvertible {
    case pcm8, pcm16, pcm24, pcm32, float32, float64
    /// G.711 µ-law (format tag 7) and A-law (6): one byte per sample.
    case muLaw, aLaw
    /// 24 valid bits in the top of a 4-byte container, as some recorders write under a plain PCM header.
    case pcm24in32

    /// Bits per sample as written in the fmt chunk.
    public var bitsPerSample: Int {
        switch self {
        case .pcm8, .muLaw, .aLaw: return 8
        case .pcm16: return 16
        case .pcm24, .pcm24in32: return 24
        case .pcm32, .float32: return 32
        case .float64: return 64
        }
    }

    public var isFloat: Bool { self == .float32 || self == .float64 }

    /// Bytes of one sample of one channel.
    var bytesPerSample: Int { self == .pcm24in32 ? 4 : bitsPerSample / 8 }

    /// The format a `WAVWriter` writes for this one: itself, except that G.711 becomes 16-bit PCM (its samples
    /// are 16-bit values) and 24-in-32 becomes 32-bit PCM (the same bytes under a standard header).
    var writable: WAVSampleFormat {
        switch self {
        case .muLaw, .aLaw: return .pcm16
        case .pcm24in32: return .pcm32
        default: return self
        }
    }

    public var description: String {
        switch self {
        case .pcm8: return "8-bit unsigned PCM"
        case .pcm16, .pcm24, .pcm32: return "\(bitsPerSample)-bit PCM"
        case .float32, .float64: return "\(bitsPerSample)-bit float"
        case .muLaw: return "G.711 µ-law"
        case .aLaw: return "G.711 A-law"
        case .pcm24in32: return "24-bit PCM in 32-bit containers"
        }
    }
}

/// The sample layout of a WAV file: sample format, channels and rate.
public struct WAVFormat: Equatable, Sendable, CustomStringConvertible {
    public var sampleFormat: WAVSampleFormat
    public var channelCount: Int
    public var sampleRate: Int

    public init(sampleFormat: WAVSampleFormat, channelCount: Int, sampleRate: Int) {
        self.sampleFormat = sampleFormat
        self.channelCount = channelCount
        self.sampleRate = sampleRate
    }

    /// Bytes of one frame (one sample of every channel): the fmt chunk's block align.
    var bytesPerFrame: Int { sampleFormat.bytesPerSample * channelCount }

    public var description: String {
        "\(sampleFormat), \(channelCount) channel\(channelCount == 1 ? "" : "s"), \(sampleRate) Hz"
    }
}

/// Limits the reader and the writer share.
enum WAVLimits {
    static let channels = 1...8
    /// Below 1 kHz or above 768 kHz a "rate" is far more likely a corrupt header than audio.
    static let sampleRates = 1000...768_000
}

/// Format tags (wFormatTag) of the fmt chunk, and the tail shared by the KSDATAFORMAT sub-format GUIDs.
enum WAVCodec {
    static let pcm = 0x0001
    static let ieeeFloat = 0x0003
    static let aLaw = 0x0006
    static let muLaw = 0x0007
    static let extensible = 0xFFFE

    /// Bytes 2...15 of KSDATAFORMAT_SUBTYPE_* GUIDs as stored on disk; bytes 0...1 hold the format tag
    /// (little-endian), so {00000001-0000-0010-8000-00AA00389B71} is PCM and ...0003... is IEEE float.
    static let guidTail: [UInt8] = [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71]

    /// A readable name for a format tag, e.g. "µ-law (0x0007)".
    static func name(_ code: Int) -> String {
        let hex = "0x" + String(format: "%04X", code)
        let known: [Int: String] = [
            0x0001: "PCM", 0x0002: "Microsoft ADPCM", 0x0003: "IEEE float", 0x0006: "A-law", 0x0007: "µ-law",
            0x0011: "IMA ADPCM", 0x0031: "GSM 6.10", 0x0050: "MPEG", 0x0055: "MPEG Layer 3",
            0x0161: "Windows Media Audio", 0xFFFE: "extensible",
        ]
        if let name = known[code] { return "\(name) (\(hex))" }
        return "format \(hex)"
    }
}

/// What was wrong with a WAV file, or with a request to write one. Every case carries the file's path as given.
enum WAVError: Error, CustomStringConvertible, Equatable {
    /// The path could not be opened (missing, no permission, ...); `reason` is the system's message.
    case cannotOpen(path: String, reason: String)
    case isDirectory(path: String)
    case emptyFile(path: String)
    /// The file does not start with "RIFF" (`found` is what it starts with, e.g. "RIFX" or "RF64").
    case notRIFF(path: String, found: String)
    /// A RIFF file whose form type is not "WAVE" (e.g. "AVI ").
    case notWAVE(path: String, formType: String)
    /// The file ends inside the RIFF header or a chunk header.
    case truncatedHeader(path: String, detail: String)
    case fmtChunkTooShort(path: String, size: Int, required: Int)
    case missingFmtChunk(path: String)
    case missingDataChunk(path: String)
    /// A stream (pipe) whose data chunk comes before its fmt chunk: the data would be gone by the time the format
    /// is known.
    case fmtAfterDataInStream(path: String)
    /// An RF64/BW64 file without the ds64 chunk that must follow "WAVE", or with one too short.
    case invalidDS64(path: String, detail: String)
    /// Another chunk (found before fmt and data were both seen) runs past the end of the file.
    case chunkTooLarge(path: String, chunkID: String, claimed: Int, available: Int)
    /// Zero, or more than 8, channels.
    case invalidChannelCount(path: String, count: Int)
    /// A rate outside 1000...768000 Hz.
    case invalidSampleRate(path: String, rate: Int)
    /// A compressed or otherwise unsupported format tag; the description names it.
    case unsupportedCodec(path: String, code: Int)
    /// WAVE_FORMAT_EXTENSIBLE with a sub-format GUID that is not a KSDATAFORMAT one.
    case unsupportedSubFormat(path: String, guid: String)
    /// A bit depth the codec cannot have here, e.g. 12-bit PCM or 16-bit float.
    case unsupportedBitDepth(path: String, bits: Int, isFloat: Bool)
    /// WAVE_FORMAT_EXTENSIBLE whose valid bits exceed the container.
    case invalidValidBits(path: String, validBits: Int, containerBits: Int)
    /// nBlockAlign is not channels × bytes per sample.
    case inconsistentBlockAlign(path: String, blockAlign: Int, expected: Int)
    /// A NaN or infinite float sample (frame counted from the start of the file, from 0).
    case nonFiniteSample(path: String, frame: Int, channel: Int)
    case readFailed(path: String, reason: String)
    /// Writing to an open descriptor (standard output) failed.
    case writeFailed(path: String, reason: String)
    /// A buffer given to a writer has a different number of channels than its format.
    case channelCountMismatch(path: String, expected: Int, actual: Int)
    /// `write` or `finish` after `finish` or `cancel`.
    case writerClosed(path: String)
    /// The data would exceed the 4 GiB RIFF size limit (and no room was kept for an RF64 header).
    case tooLargeForRIFF(path: String)

    var path: String {
        switch self {
        case .cannotOpen(let path, _), .isDirectory(let path), .emptyFile(let path), .notRIFF(let path, _),
             .notWAVE(let path, _), .truncatedHeader(let path, _), .fmtChunkTooShort(let path, _, _),
             .missingFmtChunk(let path), .missingDataChunk(let path), .invalidDS64(let path, _),
             .fmtAfterDataInStream(let path),
             .chunkTooLarge(let path, _, _, _), .invalidChannelCount(let path, _), .invalidSampleRate(let path, _),
             .unsupportedCodec(let path, _), .unsupportedSubFormat(let path, _),
             .unsupportedBitDepth(let path, _, _), .invalidValidBits(let path, _, _),
             .inconsistentBlockAlign(let path, _, _), .nonFiniteSample(let path, _, _), .readFailed(let path, _),
             .writeFailed(let path, _),
             .channelCountMismatch(let path, _, _), .writerClosed(let path), .tooLargeForRIFF(let path):
            return path
        }
    }

    var description: String { "\(path): \(problem)" }

    private var problem: String {
        switch self {
        case .cannotOpen(_, let reason):
            return "cannot open: \(reason)"
        case .isDirectory:
            return "is a directory, not a WAV file"
        case .emptyFile:
            return "file is empty"
        case .notRIFF(_, let found):
            switch found {
            case "RIFX": return "big-endian RIFX files are not supported"
            default: return "not a WAV file (starts with \(Self.quoted(found)), not \"RIFF\")"
            }
        case .notWAVE(_, let formType):
            return "RIFF file of type \(Self.quoted(formType)), not \"WAVE\""
        case .truncatedHeader(_, let detail):
            return "truncated header: \(detail)"
        case .fmtChunkTooShort(_, let size, let required):
            return "fmt chunk is \(size) bytes, at least \(required) needed"
        case .missingFmtChunk:
            return "no fmt chunk"
        case .missingDataChunk:
            return "no data chunk"
        case .fmtAfterDataInStream:
            return "the data chunk comes before the fmt chunk, which a stream cannot go back for"
        case .invalidDS64(_, let detail):
            return "RF64 file with \(detail)"
        case .chunkTooLarge(_, let id, let claimed, let available):
            return "\(Self.quoted(id)) chunk claims \(claimed) bytes but only \(available) remain"
        case .invalidChannelCount(_, let count):
            return count == 0 ? "has 0 channels"
                : "has \(count) channels; \(WAVLimits.channels.lowerBound)...\(WAVLimits.channels.upperBound) supported"
        case .invalidSampleRate(_, let rate):
            return "sample rate \(rate) Hz is outside "
                + "\(WAVLimits.sampleRates.lowerBound)...\(WAVLimits.sampleRates.upperBound) Hz"
        case .unsupportedCodec(_, let code):
            return "unsupported codec \(WAVCodec.name(code)); only PCM, IEEE float and G.711 µ-law/A-law are supported"
        case .unsupportedSubFormat(_, let guid):
            return "unsupported WAVE_FORMAT_EXTENSIBLE sub-format \(guid)"
        case .unsupportedBitDepth(_, let bits, let isFloat):
            return isFloat ? "unsupported float bit depth \(bits) (32 or 64 supported)"
                : "unsupported PCM bit depth \(bits) (8, 16, 24 or 32 supported)"
        case .invalidValidBits(_, let valid, let container):
            return "\(valid) valid bits do not fit a \(container)-bit sample container"
        case .inconsistentBlockAlign(_, let blockAlign, let expected):
            return "block align \(blockAlign) is not channels × bytes per sample = \(expected)"
        case .nonFiniteSample(_, let frame, let channel):
            return "float sample at frame \(frame), channel \(channel) is NaN or infinite"
        case .readFailed(_, let reason):
            return "read failed: \(reason)"
        case .writeFailed(_, let reason):
            return "write failed: \(reason)"
        case .channelCountMismatch(_, let expected, let actual):
            return "cannot write a \(actual)-channel buffer to a \(expected)-channel file"
        case .writerClosed:
            return "writer is already finished or cancelled"
        case .tooLargeForRIFF:
            return "audio data would exceed the 4 GiB RIFF size limit"
        }
    }

    private static func quoted(_ id: String) -> String { "\"\(id)\"" }
}
