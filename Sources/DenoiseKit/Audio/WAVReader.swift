import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Streams the samples of a RIFF/WAVE (or RF64/BW64) file as Float, a piece at a time.
///
/// `init` parses only the header (chunks in any order; unknown chunks such as LIST are skipped, odd-sized
/// chunks are followed by a pad byte) and keeps the file open. A data size of 0xFFFFFFFF (or 0 under a RIFF
/// size that was never filled in either), as streaming writers leave them, means "to the end of the file"; a data
/// chunk that claims more than the file holds is read as far as it goes and reported in `warnings`.
/// `read(maxFrames:)` then returns the next frames, reading the data chunk through one reused buffer of at most
/// 2 MiB, so memory stays flat in file length. Every size in the header is checked against the file's real size
/// before anything is allocated. A pipe (`init(fileDescriptor:name:)`) is read as a stream: once, front to back,
/// handing over frames as they arrive.
///
/// Conversion to Float, per sample n of the container:
/// - 8-bit PCM (unsigned): `(n - 128) / 128`
/// - 16/24/32-bit PCM (signed): `n / 2^(bits-1)` — WAVE_FORMAT_EXTENSIBLE samples with fewer valid bits are
///   left-justified in their container, so the same formula holds.
/// - float32/float64: the value itself; NaN or ±Inf throws `WAVError.nonFiniteSample`.
/// - G.711 µ-law/A-law: the 16-bit value ITU-T G.711 expands the byte to, divided by 2^15.
public final class WAVReader {
    public let url: URL
    public let format: WAVFormat
    /// Whole frames in the data chunk (a trailing partial frame is ignored). For a stream whose header does not
    /// say, the frames read so far: the final count once `read` has returned nil.
    public private(set) var frameCount: Int
    /// Frames returned by `read(maxFrames:)` so far.
    public private(set) var framesRead = 0
    /// What was wrong with the file but did not stop it being read (e.g. a data chunk cut short).
    public private(set) var warnings: [WAVWarning]
    /// Whether the bytes come from a pipe or another stream, read once and as they arrive.
    public var isStream: Bool { source.isStream }

    private let source: WAVByteSource
    private let path: String
    /// Byte offset just past the last whole frame of the data chunk; Int.max for a stream of unknown length.
    private let dataEnd: Int
    /// The data size the header claims, when it says (to report a stream that ends early).
    private let claimedDataSize: Int?
    /// Stream only: bytes of a partial frame after `bufferEnd`, completed by the next refill.
    private var pendingBytes = 0
    private var streamEnded = false
    /// Byte offset of the next data to read from the file.
    private var fileOffset: Int
    /// Raw interleaved frames; a whole number of frames. `buffer[bufferStart..<bufferEnd]` is not yet converted.
    private let buffer: UnsafeMutableRawBufferPointer
    private var bufferStart = 0
    private var bufferEnd = 0

    /// Opens `url` and parses its header. Throws `WAVError` naming the file and the problem.
    public convenience init(url: URL) throws {
        try self.init(url: url, bufferBytes: 2 << 20)
    }

    /// Reads an open descriptor, e.g. standard input: a regular file as a file, anything else (a pipe) as a
    /// stream. `name` stands for the path in errors. The descriptor is not closed.
    public convenience init(fileDescriptor: Int32, name: String) throws {
        try self.init(handle: FileHandle(fileDescriptor: fileDescriptor, closeOnDealloc: false),
                      url: URL(fileURLWithPath: name), path: name, bufferBytes: 2 << 20)
    }

    /// `bufferBytes` bounds the raw read buffer (tests make it tiny to exercise refills).
    convenience init(url: URL, bufferBytes: Int) throws {
        let path = url.relativePath
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw WAVError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        // Owns the descriptor from here on: any throw below closes it.
        try self.init(handle: FileHandle(fileDescriptor: fd, closeOnDealloc: true), url: url, path: path,
                      bufferBytes: bufferBytes)
    }

    private init(handle: FileHandle, url: URL, path: String, bufferBytes: Int) throws {
        var info = stat()
        if fstat(handle.fileDescriptor, &info) != 0 {
            throw WAVError.cannotOpen(path: path, reason: String(cString: strerror(errno)))
        }
        let type = info.st_mode & S_IFMT
        if type == S_IFDIR { throw WAVError.isDirectory(path: path) }
        let source = WAVByteSource(handle: handle, path: path, fileSize: type == S_IFREG ? Int(info.st_size) : nil)

        let header = try HeaderParser(source: source, path: path).parse()
        let bytesPerFrame = header.format.bytesPerFrame
        self.url = url
        self.path = path
        self.source = source
        self.format = header.format
        self.warnings = header.warnings
        self.fileOffset = header.dataOffset
        self.claimedDataSize = header.dataSize
        if let size = header.dataSize {
            frameCount = size / bytesPerFrame
            dataEnd = header.dataOffset + frameCount * bytesPerFrame
        } else {
            frameCount = 0
            dataEnd = Int.max
        }
        // A whole number of frames, no more than the data holds (a short file gets a short buffer).
        let capacityFrames = max(1, min(bufferBytes / bytesPerFrame, header.dataSize == nil ? Int.max : frameCount))
        self.buffer = .allocate(byteCount: capacityFrames * bytesPerFrame, alignment: 16)
    }

    deinit { buffer.deallocate() }

    /// The next at most `maxFrames` frames as planar channels, or nil once every frame has been returned.
    /// From a stream, it returns as soon as some frames have arrived, so it may return fewer than `maxFrames`
    /// before the end.
    public func read(maxFrames: Int) throws -> AudioBuffer? {
        precondition(maxFrames > 0, "maxFrames must be positive, got \(maxFrames)")
        let frames = dataEnd == Int.max ? maxFrames : min(maxFrames, frameCount - framesRead)
        guard frames > 0, !streamEnded else { return nil }
        let channelCount = format.channelCount
        let bytesPerFrame = format.bytesPerFrame
        var channels = (0..<channelCount).map { _ in [Float](repeating: 0, count: frames) }
        var produced = 0
        while produced < frames {
            if bufferStart == bufferEnd {
                if !source.isStream {
                    try refill()
                } else if produced > 0 {
                    break  // hand over what has arrived rather than wait for more
                } else if try !refillFromStream() {
                    break  // the stream has ended
                }
            }
            let n = min((bufferEnd - bufferStart) / bytesPerFrame, frames - produced)
            let source = UnsafeRawBufferPointer(rebasing: buffer[bufferStart..<(bufferStart + n * bytesPerFrame)])
            var firstBad: (frame: Int, channel: Int)?
            for c in 0..<channelCount {
                channels[c].withUnsafeMutableBufferPointer { destination in
                    Self.decode(source, frames: n, channel: c, format: format, into: destination, at: produced)
                    if format.sampleFormat.isFloat,
                       let i = Self.firstNonFinite(destination, range: produced..<(produced + n)),
                       i < (firstBad?.frame ?? Int.max) {
                        firstBad = (i, c)
                    }
                }
            }
            if let bad = firstBad {
                // Frames before this piece were consumed; the bad piece was not, so a retry throws again.
                throw WAVError.nonFiniteSample(path: path, frame: framesRead + bad.frame - produced,
                                               channel: bad.channel)
            }
            bufferStart += n * bytesPerFrame
            produced += n
            framesRead += n
        }
        if dataEnd == Int.max { frameCount = framesRead }
        guard produced > 0 else { return nil }
        if produced < frames { channels = channels.map { Array($0[0..<produced]) } }
        return AudioBuffer(channels: channels, sampleRate: format.sampleRate)
    }

    /// Reads a whole file into memory (use an instance and `read(maxFrames:)` for long files).
    public static func read(url: URL) throws -> (buffer: AudioBuffer, format: WAVFormat) {
        let reader = try WAVReader(url: url)
        let empty = AudioBuffer(channels: Array(repeating: [], count: reader.format.channelCount),
                                sampleRate: reader.format.sampleRate)
        let buffer = try reader.read(maxFrames: max(reader.frameCount, 1)) ?? empty
        return (buffer, reader.format)
    }

    /// Refills the raw buffer with the next whole frames of the data chunk.
    private func refill() throws {
        let wanted = min(buffer.count, dataEnd - fileOffset)
        guard wanted > 0 else {
            throw WAVError.readFailed(path: path, reason: "no data left at byte \(fileOffset)")
        }
        let target = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<wanted])
        let got = try source.read(into: target, at: fileOffset)
        if got < wanted {
            throw WAVError.readFailed(path: path, reason: "file ended at byte \(fileOffset + got), inside the data "
                                      + "chunk (was it truncated while being read?)")
        }
        bufferStart = 0
        bufferEnd = wanted
        fileOffset += wanted
    }

    /// Stream: waits for at least one whole frame, then takes whatever else has arrived (up to the buffer's
    /// size); a trailing partial frame waits for the next call. False at the end of the stream (or the data).
    private func refillFromStream() throws -> Bool {
        let bytesPerFrame = format.bytesPerFrame
        if pendingBytes > 0, let base = buffer.baseAddress {
            memmove(base, base + bufferEnd, pendingBytes)
        }
        let room = min(buffer.count, dataEnd == Int.max ? Int.max : dataEnd - fileOffset + pendingBytes)
        let target = UnsafeMutableRawBufferPointer(rebasing: buffer[pendingBytes..<room])
        let got = room > pendingBytes
            ? try source.readAvailable(into: target, at: fileOffset, minimum: bytesPerFrame - pendingBytes) : 0
        fileOffset += got
        let have = pendingBytes + got
        let whole = have / bytesPerFrame * bytesPerFrame
        guard whole > 0 else {
            streamEnded = true
            if let claimed = claimedDataSize, dataEnd != Int.max, fileOffset < dataEnd {
                frameCount = framesRead
                warnings.append(.dataCutShort(path: path, claimed: claimed,
                                              available: framesRead * bytesPerFrame + have))
            }
            return false
        }
        bufferStart = 0
        bufferEnd = whole
        pendingBytes = have - whole
        return true
    }

    /// De-interleaves channel `channel` of `frames` frames in `source` into `destination[start...]`, as Float.
    /// Layout of `source`: frame-major, `channelCount` samples per frame, each `bytesPerSample` little-endian.
    private static func decode(_ source: UnsafeRawBufferPointer, frames: Int, channel: Int, format: WAVFormat,
                               into destination: UnsafeMutableBufferPointer<Float>, at start: Int) {
        let stride = format.bytesPerFrame
        let first = channel * format.sampleFormat.bytesPerSample
        switch format.sampleFormat {
        case .pcm8:
            for i in 0..<frames {
                let n = Int32(source[first + i * stride]) - 128
                destination[start + i] = Float(n) * (1 / 128)
            }
        case .pcm16:
            for i in 0..<frames {
                let n = Int16(littleEndian: source.loadUnaligned(fromByteOffset: first + i * stride, as: Int16.self))
                destination[start + i] = Float(n) * (1 / 32768)
            }
        case .pcm24:
            for i in 0..<frames {
                let o = first + i * stride
                // Low two bytes unsigned, top byte signed: sign-extends the 24-bit value.
                let n = Int32(source[o]) | Int32(source[o + 1]) << 8 | Int32(Int8(bitPattern: source[o + 2])) << 16
                destination[start + i] = Float(n) * (1 / 8_388_608)
            }
        case .pcm32, .pcm24in32:
            for i in 0..<frames {
                let n = Int32(littleEndian: source.loadUnaligned(fromByteOffset: first + i * stride, as: Int32.self))
                destination[start + i] = Float(n) * (1 / 2_147_483_648)
            }
        case .muLaw, .aLaw:
            let table = format.sampleFormat == .muLaw ? G711.muLawTable : G711.aLawTable
            for i in 0..<frames {
                destination[start + i] = Float(table[Int(source[first + i * stride])]) * (1 / 32768)
            }
        case .float32:
            for i in 0..<frames {
                let bits = UInt32(littleEndian: source.loadUnaligned(fromByteOffset: first + i * stride,
                                                                     as: UInt32.self))
                destination[start + i] = Float(bitPattern: bits)
            }
        case .float64:
            for i in 0..<frames {
                let bits = UInt64(littleEndian: source.loadUnaligned(fromByteOffset: first + i * stride,
                                                                     as: UInt64.self))
                // A finite double beyond Float's range becomes ±Inf here and is reported as non-finite.
                destination[start + i] = Float(Double(bitPattern: bits))
            }
        }
    }

    private static func firstNonFinite(_ values: UnsafeMutableBufferPointer<Float>, range: Range<Int>) -> Int? {
        for i in range where !values[i].isFinite { return i }
        return nil
    }
}

/// Walks the RIFF chunks of a WAVE file to find and validate "fmt " and "data".
private struct HeaderParser {
    let source: WAVByteSource
    let path: String

    struct Result {
        var format: WAVFormat
        var dataOffset: Int
        /// nil: a stream's data of unknown size, to its end.
        var dataSize: Int?
        var warnings: [WAVWarning]
    }

    /// The fmt fields we use end at byte 40 (WAVE_FORMAT_EXTENSIBLE's sub-format GUID).
    private static let fmtBytesUsed = 40
    /// A 32-bit size field that means "see ds64" in RF64, or "unknown" in a stream.
    private static let unknownSize = 0xFFFF_FFFF

    func parse() throws -> Result {
        // A stream's size is unknown: it bounds nothing, and its end shows as a short read.
        let fileSize = source.fileSize ?? Int.max
        let riff = try bytes(12, at: 0)
        if riff.isEmpty { throw WAVError.emptyFile(path: path) }
        let magic = riff.count >= 4 ? fourCC(riff[0..<4]) : ""
        let isRF64 = magic == "RF64" || magic == "BW64"
        if riff.count >= 4 && magic != "RIFF" && !isRF64 {
            throw WAVError.notRIFF(path: path, found: magic)
        }
        if riff.count < 12 {
            throw WAVError.truncatedHeader(path: path, detail: "the file is \(riff.count) bytes, "
                                           + "shorter than the 12-byte RIFF header")
        }
        if Array(riff[8..<12]) != Array("WAVE".utf8) {
            throw WAVError.notWAVE(path: path, formType: fourCC(riff[8..<12]))
        }
        // Otherwise the RIFF size field is ignored (writers often leave it wrong; the file's real size bounds
        // everything), except that 0 or 0xFFFFFFFF there marks a header that was never patched.
        let riffSizeField = Int(Self.uint32(riff, 4))
        let unpatched = riffSizeField == 0 || riffSizeField == Self.unknownSize
        let rf64DataSize = isRF64 ? try ds64DataSize() : nil

        var fmt: [UInt8]?
        var fmtSize = 0
        var data: (offset: Int, size: Int?)?
        var warnings: [WAVWarning] = []
        var offset = 12
        while fmt == nil || data == nil {
            if fileSize - offset <= 0 { break }
            let header = try bytes(8, at: offset)
            if header.isEmpty { break }  // the end of a stream
            if header.count < 8 {
                throw WAVError.truncatedHeader(path: path, detail: "the file ends inside a chunk header "
                                               + "at byte \(offset)")
            }
            let id = fourCC(header[0..<4])
            var size = Int(Self.uint32(header, 4))
            let bodyOffset = offset + 8
            let available = fileSize - bodyOffset
            switch id {
            case "data" where data == nil:
                if let rf64DataSize, size == Self.unknownSize {
                    size = rf64DataSize
                } else if size == Self.unknownSize || (size == 0 && unpatched) {
                    size = available  // a stream's header: the data runs to the end of the file
                }
                if source.isStream {
                    // The data is read as it comes; a stream cannot come back for a fmt chunk after it.
                    guard fmt != nil else { throw WAVError.fmtAfterDataInStream(path: path) }
                    data = (bodyOffset, size == available ? nil : size)
                    continue
                }
                if size > available {
                    warnings.append(.dataCutShort(path: path, claimed: size, available: available))
                    size = available
                }
                data = (bodyOffset, size)
            case "fmt " where fmt == nil:
                if size > available {
                    throw WAVError.truncatedHeader(path: path, detail: "fmt chunk claims \(size) bytes "
                                                   + "but only \(available) remain")
                }
                fmt = try bytes(min(size, Self.fmtBytesUsed), at: bodyOffset)
                fmtSize = size
            default:
                if size > available {
                    throw WAVError.chunkTooLarge(path: path, chunkID: id, claimed: size, available: available)
                }
            }
            // Chunks start on even offsets: an odd-sized chunk is followed by one pad byte.
            offset = bodyOffset + size + (size & 1)
        }
        guard let fmtBytes = fmt else { throw WAVError.missingFmtChunk(path: path) }
        guard let dataChunk = data else { throw WAVError.missingDataChunk(path: path) }
        let format = try parseFormat(fmtBytes, chunkSize: fmtSize)
        return Result(format: format, dataOffset: dataChunk.offset, dataSize: dataChunk.size, warnings: warnings)
    }

    /// The 64-bit data size of an RF64/BW64 file. Its "ds64" chunk comes first, right after "WAVE":
    /// 0 riffSize (8 bytes), 8 dataSize (8), 16 sampleCount (8), 24 table length (4), then the table.
    private func ds64DataSize() throws -> Int {
        let header = try bytes(8 + 24, at: 12)
        guard header.count >= 8, fourCC(header[0..<4]) == "ds64" else {
            throw WAVError.invalidDS64(path: path, detail: "no ds64 chunk after \"WAVE\"")
        }
        let size = Int(Self.uint32(header, 4))
        guard size >= 24, header.count >= 32 else {
            throw WAVError.invalidDS64(path: path, detail: "a ds64 chunk of \(size) bytes (at least 24 needed)")
        }
        let dataSize = UInt64(Self.uint32(header, 16)) | UInt64(Self.uint32(header, 20)) << 32
        // Anything past the file's end is cut to it by the caller, with a warning.
        return Int(min(dataSize, UInt64(Int.max)))
    }

    /// Validates the fmt chunk. Layout (little-endian): 0 wFormatTag, 2 nChannels, 4 nSamplesPerSec,
    /// 8 nAvgBytesPerSec, 12 nBlockAlign, 14 wBitsPerSample; extensible adds 16 cbSize, 18 wValidBitsPerSample,
    /// 20 dwChannelMask, 24 SubFormat GUID (16 bytes).
    private func parseFormat(_ fmt: [UInt8], chunkSize: Int) throws -> WAVFormat {
        guard chunkSize >= 16 else { throw WAVError.fmtChunkTooShort(path: path, size: chunkSize, required: 16) }
        var code = Int(Self.uint16(fmt, 0))
        let channels = Int(Self.uint16(fmt, 2))
        let sampleRate = Int(Self.uint32(fmt, 4))
        let blockAlign = Int(Self.uint16(fmt, 12))
        let bits = Int(Self.uint16(fmt, 14))
        var validBits = bits
        if code == WAVCodec.extensible {
            guard chunkSize >= 40 else {
                throw WAVError.fmtChunkTooShort(path: path, size: chunkSize, required: 40)
            }
            let valid = Int(Self.uint16(fmt, 18))
            if valid != 0 { validBits = valid }  // 0 is sometimes written for "same as the container"
            let guid = Array(fmt[24..<40])
            guard Array(guid[2...]) == WAVCodec.guidTail else {
                throw WAVError.unsupportedSubFormat(path: path, guid: Self.guidString(guid))
            }
            code = Int(Self.uint16(guid, 0))
        }
        guard [WAVCodec.pcm, WAVCodec.ieeeFloat, WAVCodec.muLaw, WAVCodec.aLaw].contains(code) else {
            throw WAVError.unsupportedCodec(path: path, code: code)
        }
        guard WAVLimits.channels.contains(channels) else {
            throw WAVError.invalidChannelCount(path: path, count: channels)
        }
        guard WAVLimits.sampleRates.contains(sampleRate) else {
            throw WAVError.invalidSampleRate(path: path, rate: sampleRate)
        }
        let sampleFormat: WAVSampleFormat
        switch (code, bits) {
        case (WAVCodec.pcm, 8): sampleFormat = .pcm8
        case (WAVCodec.pcm, 16): sampleFormat = .pcm16
        // A plain header cannot say "24 valid bits in 4 bytes", so block align is what tells the two apart.
        case (WAVCodec.pcm, 24): sampleFormat = blockAlign == channels * 4 ? .pcm24in32 : .pcm24
        case (WAVCodec.pcm, 32): sampleFormat = .pcm32
        case (WAVCodec.ieeeFloat, 32): sampleFormat = .float32
        case (WAVCodec.ieeeFloat, 64): sampleFormat = .float64
        case (WAVCodec.muLaw, 8): sampleFormat = .muLaw
        case (WAVCodec.aLaw, 8): sampleFormat = .aLaw
        default: throw WAVError.unsupportedBitDepth(path: path, bits: bits, isFloat: code == WAVCodec.ieeeFloat)
        }
        guard validBits <= bits else {
            throw WAVError.invalidValidBits(path: path, validBits: validBits, containerBits: bits)
        }
        let expected = channels * sampleFormat.bytesPerSample
        guard blockAlign == expected else {
            throw WAVError.inconsistentBlockAlign(path: path, blockAlign: blockAlign, expected: expected)
        }
        return WAVFormat(sampleFormat: sampleFormat, channelCount: channels, sampleRate: sampleRate)
    }

    /// Up to `count` bytes at `offset` (fewer at end of file).
    private func bytes(_ count: Int, at offset: Int) throws -> [UInt8] {
        var result = [UInt8](repeating: 0, count: count)
        let got = try result.withUnsafeMutableBytes { try source.read(into: $0, at: offset) }
        result.removeLast(count - got)
        return result
    }

    /// A chunk ID as text; bytes outside printable ASCII are shown as \xNN.
    private func fourCC(_ bytes: ArraySlice<UInt8>) -> String {
        bytes.map { (0x20...0x7E).contains($0) ? String(UnicodeScalar($0)) : String(format: "\\x%02X", $0) }
            .joined()
    }

    private static func uint16(_ b: [UInt8], _ i: Int) -> UInt16 { UInt16(b[i]) | UInt16(b[i + 1]) << 8 }

    private static func uint32(_ b: [UInt8], _ i: Int) -> UInt32 {
        UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
    }

    /// {Data1-Data2-Data3-Data4[0..1]-Data4[2..7]}, the first three fields stored little-endian.
    private static func guidString(_ g: [UInt8]) -> String {
        let hex = { (indices: [Int]) in indices.map { String(format: "%02X", g[$0]) }.joined() }
        return "{\(hex([3, 2, 1, 0]))-\(hex([5, 4]))-\(hex([7, 6]))-\(hex([8, 9]))-\(hex(Array(10..<16)))}"
    }
}
