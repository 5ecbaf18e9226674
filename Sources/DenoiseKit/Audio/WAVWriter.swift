import Foundation

/// Writes a RIFF/WAVE file incrementally, through an `AtomicFile`: the destination appears, complete, only when
/// `finish()` succeeds; a cancelled, failed or abandoned writer leaves neither the file nor a temporary behind.
///
/// Header: plain 16-byte `fmt ` (WAVE_FORMAT_PCM) for 8/16-bit PCM with one or two channels; plain 18-byte
/// `fmt ` (WAVE_FORMAT_IEEE_FLOAT, cbSize 0) for float with one or two channels; otherwise
/// WAVE_FORMAT_EXTENSIBLE (40-byte `fmt `, valid bits = container bits, sub-format PCM or IEEE float), as
/// Microsoft recommends for more than two channels or integers wider than 16 bits. Float files also get a `fact`
/// chunk.
/// Sizes are patched by `finish()`. A format that is read but not written (G.711, 24-in-32) is replaced by its
/// `writable` equivalent: `format` says what the file holds.
///
/// Past 4 GiB the RIFF size fields overflow, so the file becomes RF64 (EBU Tech 3306): "RIFF" turns into "RF64",
/// the 32-bit sizes into 0xFFFFFFFF, and a 28-byte "JUNK" chunk kept after "WAVE" into the "ds64" chunk that
/// holds the 64-bit sizes. The JUNK chunk is kept only when the output could get that large: when the expected
/// length is unknown or beyond the limit.
///
/// Conversion from Float, per sample x:
/// - integer PCM: x is clamped to [-1, 1] (NaN becomes 0), then `n = round(x · 2^(bits-1))`, capped at
///   `2^(bits-1) - 1`; 8-bit stores `n + 128`. This inverts `WAVReader`'s `n / 2^(bits-1)` exactly, so PCM
///   read → write is bit-exact, and only +1.0 itself loses one step (to the largest positive code).
/// - float: written as is (values beyond ±1 are kept); NaN becomes 0 and ±Inf becomes ±1.
/// Every sample that was changed (out of [-1, 1] for PCM, NaN, ±Inf) adds one to `clippedSamples`.
///
/// File-system failures throw `AtomicFileError`; format and usage problems throw `WAVError`.
public final class WAVWriter {
    public let url: URL
    public let format: WAVFormat
    /// Samples (over all channels) that had to be clamped or replaced; see the type's documentation.
    public private(set) var clippedSamples = 0
    public private(set) var framesWritten = 0

    /// open → written (complete in its temporary file) → finished (in place); cancelled from open or written.
    private enum State { case open, written, finished, cancelled }

    private let file: WAVDestination
    private let layout: HeaderLayout
    /// Largest RIFF size field (bytes after the first 8) before the file must become RF64.
    private let riffLimit: Int
    private var state = State.open
    /// Converted, interleaved frames waiting to be written; a whole number of frames.
    private let staging: UnsafeMutableRawBufferPointer
    private var stagedBytes = 0

    /// Creates the temporary file and writes a header with placeholder sizes. `expectedFrames`, when known,
    /// spares small files the room kept for an RF64 header.
    public convenience init(url: URL, format: WAVFormat, expectedFrames: Int? = nil) throws {
        try self.init(url: url, format: format, expectedFrames: expectedFrames, bufferBytes: 1 << 20)
    }

    /// `bufferBytes` bounds the staging buffer (tests make it tiny to exercise flushing); `riffLimit` is where
    /// RF64 takes over (tests make it small rather than write 4 GiB).
    convenience init(url: URL, format: WAVFormat, expectedFrames: Int?, bufferBytes: Int,
                     riffLimit: Int = Int(UInt32.max)) throws {
        try self.init(url: url, format: format, expectedFrames: expectedFrames, bufferBytes: bufferBytes,
                      riffLimit: riffLimit) { try AtomicFile(destination: url) }
    }

    /// Writes to an open descriptor, e.g. standard output, which is not closed. `name` stands for the path in
    /// errors. On a pipe, the header's sizes are 0xFFFFFFFF ("to the end of the stream", as streaming readers
    /// expect), and each `write` goes out at once; on a regular file the sizes are patched by `finish()`.
    public convenience init(fileDescriptor: Int32, name: String, format: WAVFormat) throws {
        try self.init(url: URL(fileURLWithPath: name), format: format, expectedFrames: nil, bufferBytes: 1 << 20,
                      riffLimit: Int(UInt32.max)) { DescriptorDestination(fileDescriptor: fileDescriptor, path: name) }
    }

    private init(url: URL, format requested: WAVFormat, expectedFrames: Int?, bufferBytes: Int, riffLimit: Int,
                 destination: () throws -> WAVDestination) throws {
        let path = url.relativePath
        var format = requested
        format.sampleFormat = requested.sampleFormat.writable
        guard WAVLimits.channels.contains(format.channelCount) else {
            throw WAVError.invalidChannelCount(path: path, count: format.channelCount)
        }
        guard WAVLimits.sampleRates.contains(format.sampleRate) else {
            throw WAVError.invalidSampleRate(path: path, rate: format.sampleRate)
        }
        let plainHeaderBytes = HeaderLayout(format: format, keepsRoomForDS64: false).bytes.count
        let mayOutgrowRIFF = expectedFrames.map { plainHeaderBytes - 8 + $0 * format.bytesPerFrame + 1 > riffLimit }
        let file = try destination()
        var layout = HeaderLayout(format: format, keepsRoomForDS64: file.canPatch && (mayOutgrowRIFF ?? true))
        if !file.canPatch { layout.markSizesUnknown() }
        // On a throw `file` is released, which removes a temporary file.
        try layout.bytes.withUnsafeBytes { try file.write($0) }
        self.url = url
        self.format = format
        self.file = file
        self.layout = layout
        self.riffLimit = riffLimit
        let frames = max(1, bufferBytes / format.bytesPerFrame)
        self.staging = .allocate(byteCount: frames * format.bytesPerFrame, alignment: 16)
    }

    deinit {
        staging.deallocate()
        if state == .open || state == .written { file.discard() }
    }

    /// Converts and appends all frames of `buffer`, whose channel count must match the format's.
    public func write(_ buffer: AudioBuffer) throws {
        guard state == .open else { throw WAVError.writerClosed(path: url.relativePath) }
        guard buffer.channelCount == format.channelCount else {
            throw WAVError.channelCountMismatch(path: url.relativePath, expected: format.channelCount,
                                                actual: buffer.channelCount)
        }
        let bytesPerFrame = format.bytesPerFrame
        let frames = buffer.frameCount
        let dataBytes = (framesWritten + frames) * bytesPerFrame
        // The RIFF size field (everything after its first 8 bytes, pad byte included) is 32 bits.
        guard !file.canPatch || layout.ds64Offset != nil
                || layout.bytes.count - 8 + dataBytes + (dataBytes & 1) <= riffLimit else {
            throw WAVError.tooLargeForRIFF(path: url.relativePath)
        }
        var done = 0
        while done < frames {
            let room = (staging.count - stagedBytes) / bytesPerFrame
            if room == 0 {
                try flushOrCancel()
                continue
            }
            let n = min(room, frames - done)
            for c in 0..<format.channelCount {
                buffer.channels[c].withUnsafeBufferPointer { source in
                    clippedSamples += Self.encode(source, from: done, frames: n, channel: c, format: format,
                                                  into: staging, at: stagedBytes)
                }
            }
            stagedBytes += n * bytesPerFrame
            done += n
        }
        framesWritten += frames
        if file.isLive { try flushOrCancel() }
    }

    /// Writes what is staged, the pad byte, the final sizes, and renames the file into place.
    /// Calling it again after success does nothing. On failure the writer is cancelled.
    public func finish() throws {
        try finishWriting()
        try commit()
    }

    /// Writes what is staged, the pad byte and the final sizes: the file is complete, but not yet in place
    /// (`commit()` puts it there). Does nothing if already done. On failure the writer is cancelled.
    func finishWriting() throws {
        switch state {
        case .written, .finished: return
        case .cancelled: throw WAVError.writerClosed(path: url.relativePath)
        case .open: break
        }
        do {
            try flush()
            let dataBytes = framesWritten * format.bytesPerFrame
            let pad = dataBytes & 1
            if pad == 1 { try [UInt8(0)].withUnsafeBytes { try file.write($0) } }
            let riffSize = layout.bytes.count - 8 + dataBytes + pad
            if !file.canPatch {
                // The header already says "unknown": nothing to go back for.
            } else if let ds64Offset = layout.ds64Offset, riffSize > riffLimit {
                try patchRF64(riffSize: riffSize, dataBytes: dataBytes, ds64Offset: ds64Offset)
            } else {
                try patch(UInt32(riffSize), at: 4)
                try patch(UInt32(dataBytes), at: layout.dataSizeOffset)
                if let factOffset = layout.factLengthOffset { try patch(UInt32(framesWritten), at: factOffset) }
            }
            state = .written
        } catch {
            cancel()
            throw error
        }
    }

    /// Flushes the completed file to disk and renames it into place (see `AtomicFile.commit`). The slow part is
    /// the flush, so a caller with more work may hand this to another thread. On failure the writer is cancelled.
    public func commit() throws {
        switch state {
        case .finished: return
        case .open, .cancelled: throw WAVError.writerClosed(path: url.relativePath)
        case .written: break
        }
        do {
            try file.commit()
            state = .finished
        } catch {
            cancel()
            throw error
        }
    }

    /// Removes the temporary file; the destination is untouched. Does nothing after `finish()`.
    public func cancel() {
        guard state == .open || state == .written else { return }
        state = .cancelled
        file.discard()
    }

    /// Writes `buffer` to `url` in one go; returns the number of clipped samples.
    @discardableResult
    public static func write(_ buffer: AudioBuffer, to url: URL, format: WAVFormat) throws -> Int {
        let writer = try WAVWriter(url: url, format: format, expectedFrames: buffer.frameCount)
        do {
            try writer.write(buffer)
            try writer.finish()
        } catch {
            writer.cancel()
            throw error
        }
        return writer.clippedSamples
    }

    private func flush() throws {
        guard stagedBytes > 0 else { return }
        try file.write(UnsafeRawBufferPointer(rebasing: staging[0..<stagedBytes]))
        stagedBytes = 0
    }

    /// A failed write leaves a file with a hole: give it up rather than finish it later.
    private func flushOrCancel() throws {
        do { try flush() } catch {
            cancel()
            throw error
        }
    }

    private func patch(_ value: UInt32, at offset: Int) throws {
        try withUnsafeBytes(of: value.littleEndian) { try file.write($0, atOffset: offset) }
    }

    private func patch(_ value: UInt64, at offset: Int) throws {
        try withUnsafeBytes(of: value.littleEndian) { try file.write($0, atOffset: offset) }
    }

    private func patch(_ id: String, at offset: Int) throws {
        try Array(id.utf8).withUnsafeBytes { try file.write($0, atOffset: offset) }
    }

    /// Turns the header into RF64's: the 32-bit sizes say "see ds64", and the reserved JUNK chunk becomes
    /// ds64 (riffSize, dataSize, sampleCount as 64-bit values, then an empty table).
    private func patchRF64(riffSize: Int, dataBytes: Int, ds64Offset: Int) throws {
        let unknown = UInt32.max
        try patch("RF64", at: 0)
        try patch(unknown, at: 4)
        try patch("ds64", at: ds64Offset - 8)
        try patch(UInt64(riffSize), at: ds64Offset)
        try patch(UInt64(dataBytes), at: ds64Offset + 8)
        try patch(UInt64(framesWritten), at: ds64Offset + 16)
        try patch(UInt32(0), at: ds64Offset + 24)
        try patch(unknown, at: layout.dataSizeOffset)
        if let factOffset = layout.factLengthOffset {
            try patch(UInt32(min(framesWritten, Int(unknown))), at: factOffset)
        }
    }

    /// Interleaves channel `channel` of `source[from..<from+frames]` into `destination` from byte `start`,
    /// converting each sample to the file's format. Layout of `destination`: frame-major, `channelCount`
    /// samples per frame, each `bytesPerSample` little-endian. Returns the number of clipped samples.
    private static func encode(_ source: UnsafeBufferPointer<Float>, from: Int, frames: Int, channel: Int,
                               format: WAVFormat, into destination: UnsafeMutableRawBufferPointer,
                               at start: Int) -> Int {
        let stride = format.bytesPerFrame
        let first = start + channel * format.sampleFormat.bytesPerSample
        var clipped = 0
        switch format.sampleFormat {
        case .pcm8:
            for i in 0..<frames {
                let n = quantize(source[from + i], scale: 128, clipped: &clipped)
                destination[first + i * stride] = UInt8(truncatingIfNeeded: n + 128)
            }
        case .pcm16:
            for i in 0..<frames {
                let n = Int16(truncatingIfNeeded: quantize(source[from + i], scale: 32768, clipped: &clipped))
                destination.storeBytes(of: n.littleEndian, toByteOffset: first + i * stride, as: Int16.self)
            }
        case .pcm24:
            for i in 0..<frames {
                let n = quantize(source[from + i], scale: 8_388_608, clipped: &clipped)
                let o = first + i * stride
                destination[o] = UInt8(truncatingIfNeeded: n)
                destination[o + 1] = UInt8(truncatingIfNeeded: n >> 8)
                destination[o + 2] = UInt8(truncatingIfNeeded: n >> 16)
            }
        case .muLaw, .aLaw, .pcm24in32:
            preconditionFailure("WAVWriter.init replaces \(format.sampleFormat) with \(format.sampleFormat.writable)")
        case .pcm32:
            for i in 0..<frames {
                let n = quantize(source[from + i], scale: 2_147_483_648, clipped: &clipped)
                destination.storeBytes(of: n.littleEndian, toByteOffset: first + i * stride, as: Int32.self)
            }
        case .float32:
            for i in 0..<frames {
                let x = finite(source[from + i], clipped: &clipped)
                destination.storeBytes(of: x.bitPattern.littleEndian, toByteOffset: first + i * stride,
                                       as: UInt32.self)
            }
        case .float64:
            for i in 0..<frames {
                let x = Double(finite(source[from + i], clipped: &clipped))
                destination.storeBytes(of: x.bitPattern.littleEndian, toByteOffset: first + i * stride,
                                       as: UInt64.self)
            }
        }
        return clipped
    }

    /// `round(clamp(x, -1, 1) · scale)`, capped at `scale - 1`; scale = 2^(bits-1). NaN counts and becomes 0.
    @inline(__always)
    private static func quantize(_ x: Float, scale: Float, clipped: inout Int) -> Int32 {
        var v = x
        if !(v.magnitude <= 1) {  // also true for NaN
            clipped += 1
            v = v.isNaN ? 0 : (v > 0 ? 1 : -1)
        }
        // |v · scale| ≤ 2^31 fits Int64; scaling by a power of two is exact, so rounding sees the true value. Adding
        // and taking away 1.5 · 2^52 in Double rounds it to the nearest integer, ties to even, exactly as
        // `rounded(.toNearestOrEven)` does, without the libm call per sample that was 2.4% of `apply`.
        let roundingShift = 6_755_399_441_055_744.0
        let n = Int64((Double(v * scale) + roundingShift) - roundingShift)
        return Int32(min(n, Int64(scale) - 1))
    }

    /// NaN → 0, ±Inf → ±1, counted; finite values pass through.
    @inline(__always)
    private static func finite(_ x: Float, clipped: inout Int) -> Float {
        if x.isFinite { return x }
        clipped += 1
        return x.isNaN ? 0 : (x > 0 ? 1 : -1)
    }
}

/// The header a `WAVWriter` writes for a format, with zero sizes, and where the sizes go.
private struct HeaderLayout {
    var bytes: [UInt8] = []
    var dataSizeOffset = 0
    /// The `fact` chunk's dwSampleLength (frames), present for float formats.
    var factLengthOffset: Int?
    /// Where the body of the reserved JUNK chunk (a ds64 body's size) starts, when there is one.
    var ds64Offset: Int?

    /// ds64 without a table: riffSize, dataSize and sampleCount (8 bytes each), table length (4).
    static let ds64BodyBytes = 28

    init(format: WAVFormat, keepsRoomForDS64: Bool) {
        let sampleFormat = format.sampleFormat
        // Extensible only where the plain fmt cannot say it: more than two channels, or integers wider than 16 bits.
        // Float mono and stereo keep the plain IEEE-float fmt, with the cbSize of 0 that every non-PCM fmt
        // carries: the form sox and libsndfile write, and the one sox reads without a warning.
        let extensible = format.channelCount > 2 || (!sampleFormat.isFloat && sampleFormat.bitsPerSample > 16)
        let code = sampleFormat.isFloat ? WAVCodec.ieeeFloat : WAVCodec.pcm
        let blockAlign = format.bytesPerFrame
        append("RIFF")
        append(UInt32(0))  // patched: file size - 8
        append("WAVE")
        if keepsRoomForDS64 {
            append("JUNK")  // readers skip it; becomes "ds64" if the file outgrows RIFF
            append(UInt32(Self.ds64BodyBytes))
            ds64Offset = bytes.count
            bytes += [UInt8](repeating: 0, count: Self.ds64BodyBytes)
        }
        append("fmt ")
        let fmtSizeOffset = bytes.count
        append(UInt32(0))  // set below, from the body as written
        append(UInt16(extensible ? WAVCodec.extensible : code))
        append(UInt16(format.channelCount))
        append(UInt32(format.sampleRate))
        append(UInt32(format.sampleRate * blockAlign))
        append(UInt16(blockAlign))
        append(UInt16(sampleFormat.bitsPerSample))
        if extensible {
            append(UInt16(22))  // cbSize: the extension's bytes
            append(UInt16(sampleFormat.bitsPerSample))  // valid bits: all of the container
            // Front centre for mono, front left/right for stereo; otherwise the layout is unknown (0).
            append(UInt32(format.channelCount == 1 ? 0x4 : format.channelCount == 2 ? 0x3 : 0))
            append(UInt16(code))
            bytes += WAVCodec.guidTail
        } else if sampleFormat.isFloat {
            append(UInt16(0))  // cbSize: no extension
        }
        set(UInt32(bytes.count - fmtSizeOffset - 4), at: fmtSizeOffset)
        if sampleFormat.isFloat {
            append("fact")
            append(UInt32(4))
            factLengthOffset = bytes.count
            append(UInt32(0))  // patched: frames
        }
        append("data")
        dataSizeOffset = bytes.count
        append(UInt32(0))  // patched: data bytes
    }

    /// For a destination that cannot be patched: every size says 0xFFFFFFFF, "to the end of the stream".
    mutating func markSizesUnknown() {
        for offset in [4, dataSizeOffset] + (factLengthOffset.map { [$0] } ?? []) { set(UInt32.max, at: offset) }
    }

    private mutating func append(_ id: String) { bytes += Array(id.utf8) }
    private mutating func append(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    private mutating func append(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    private mutating func set(_ value: UInt32, at offset: Int) {
        withUnsafeBytes(of: value.littleEndian) { bytes.replaceSubrange(offset..<(offset + 4), with: $0) }
    }
}
