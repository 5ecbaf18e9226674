import XCTest
@testable import DenoiseKit

/// Little-endian byte building for hand-made WAV files.
private struct Bytes {
    var bytes: [UInt8] = []

    mutating func id(_ text: String) { bytes += Array(text.utf8) }
    mutating func u16(_ value: Int) { bytes += le(value, 2) }
    mutating func u32(_ value: Int) { bytes += le(value, 4) }

    /// A chunk with its pad byte when the body has odd length; `size` overrides the size field (to lie).
    mutating func chunk(_ chunkID: String, _ body: [UInt8], size: Int? = nil) {
        id(chunkID)
        u32(size ?? body.count)
        bytes += body
        if body.count % 2 == 1 { bytes.append(0) }
    }
}

private func le(_ value: Int, _ count: Int) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
}

/// A 16-byte WAVE_FORMAT_PCM/IEEE fmt body (block align computed unless given).
private func fmtBody(code: Int = 1, channels: Int = 1, rate: Int = 16000, bits: Int = 16,
                     blockAlign: Int? = nil) -> [UInt8] {
    let align = blockAlign ?? channels * bits / 8
    var b = Bytes()
    b.u16(code); b.u16(channels); b.u32(rate); b.u32(rate * align); b.u16(align); b.u16(bits)
    return b.bytes
}

/// A 40-byte WAVE_FORMAT_EXTENSIBLE fmt body; `subFormat` goes into the KSDATAFORMAT GUID unless `guid` is given.
private func extensibleFmtBody(channels: Int, rate: Int = 48000, bits: Int, validBits: Int, subFormat: Int = 1,
                               guid: [UInt8]? = nil) -> [UInt8] {
    var b = Bytes()
    b.bytes = fmtBody(code: 0xFFFE, channels: channels, rate: rate, bits: bits)
    b.u16(22); b.u16(validBits); b.u32(0)
    b.bytes += guid ?? (le(subFormat, 2) + [0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71])
    return b.bytes
}

/// RIFF/WAVE around the given chunks (id, body).
private func riff(_ chunks: [(String, [UInt8])], formType: String = "WAVE") -> Data {
    var body = Bytes()
    body.id(formType)
    for (chunkID, content) in chunks { body.chunk(chunkID, content) }
    var file = Bytes()
    file.id("RIFF"); file.u32(body.bytes.count)
    return Data(file.bytes + body.bytes)
}

/// Walks a WAV file's chunks independently of the reader; returns the body of the first chunk `wanted`.
private func chunkBody(_ wanted: String, in file: Data) -> [UInt8]? {
    let bytes = [UInt8](file)
    var offset = 12
    while offset + 8 <= bytes.count {
        let chunkID = String(decoding: bytes[offset..<(offset + 4)], as: UTF8.self)
        let size = (0..<4).reduce(0) { $0 | Int(bytes[offset + 4 + $1]) << (8 * $1) }
        if chunkID == wanted { return Array(bytes[(offset + 8)..<min(bytes.count, offset + 8 + size)]) }
        offset += 8 + size + (size & 1)
    }
    return nil
}

private func u16(_ b: [UInt8], _ i: Int) -> Int { Int(b[i]) | Int(b[i + 1]) << 8 }
private func u32(_ b: [UInt8], _ i: Int) -> Int { u16(b, i) | u16(b, i + 2) << 16 }

final class WAVTests: XCTestCase {
    private var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("WAVTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: folder.path)
        try FileManager.default.removeItem(at: folder)
    }

    private func url(_ name: String) -> URL { folder.appendingPathComponent(name) }

    private func folderContents() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
    }

    /// Writes `data` as `name`, reads it, and checks that it throws exactly `expected` and names the file.
    @discardableResult
    private func assertReadThrows(_ data: Data, name: String = "bad.wav", _ expected: (String) -> WAVError,
                                  file: StaticString = #filePath, line: UInt = #line) -> String {
        let target = url(name)
        XCTAssertNoThrow(try data.write(to: target), file: file, line: line)
        do {
            _ = try WAVReader.read(url: target)
            XCTFail("reading \(name) should throw", file: file, line: line)
        } catch let error as WAVError {
            XCTAssertEqual(error, expected(target.relativePath), file: file, line: line)
            XCTAssertTrue(error.description.contains(name), "\(error) should name the file", file: file, line: line)
            return error.description
        } catch {
            XCTFail("expected a WAVError, got \(error)", file: file, line: line)
        }
        return ""
    }

    // MARK: Round trips

    func testEveryPCMFormatRoundTripsBitExactly() throws {
        var rng = RandomGenerator(seed: 1)
        for (sampleFormat, bits) in [(WAVSampleFormat.pcm8, 8), (.pcm16, 16), (.pcm24, 24), (.pcm32, 32)] {
            let full = 1 << (bits - 1)
            let frames = 257
            // Every code is reachable: the extremes, zero, and random codes of the whole range.
            let codes = (0..<(2 * frames)).map { i -> Int in
                switch i {
                case 0: return -full
                case 1: return full - 1
                case 2: return 0
                default: return Int.random(in: -full..<full, using: &rng)
                }
            }
            let values = codes.map { Float($0) / Float(full) }
            let left = (0..<frames).map { values[2 * $0] }, right = (0..<frames).map { values[2 * $0 + 1] }
            let format = WAVFormat(sampleFormat: sampleFormat, channelCount: 2, sampleRate: 22050)
            let target = url("pcm\(bits).wav")
            let clipped = try WAVWriter.write(AudioBuffer(channels: [left, right], sampleRate: 22050), to: target,
                                              format: format)
            XCTAssertEqual(clipped, 0, "\(sampleFormat)")

            let (buffer, readFormat) = try WAVReader.read(url: target)
            XCTAssertEqual(readFormat, format)
            XCTAssertEqual(buffer.channels[0], left, "\(sampleFormat)")
            XCTAssertEqual(buffer.channels[1], right, "\(sampleFormat)")

            // On disk: the interleaved codes, little-endian (8-bit offset by 128). 32-bit codes are those of the
            // Float values, which hold 24 significant bits; +2^31 is capped to the largest code.
            let data = try XCTUnwrap(chunkBody("data", in: try Data(contentsOf: target)))
            let expected = codes.flatMap { code -> [UInt8] in
                if bits == 8 { return [UInt8(code + 128)] }
                let stored = bits == 32 ? min(Int(Float(code)), Int(Int32.max)) : code
                return le(stored, bits / 8)
            }
            XCTAssertEqual(data, expected, "\(sampleFormat)")
        }
    }

    /// Values between two codes go to the nearer one, and halfway ones to the even one (as
    /// `rounded(.toNearestOrEven)` gives), in every PCM width: code + 0.5 → even, ± 0.25 and 0.75 → nearest.
    func testValuesBetweenCodesRoundToTheNearestTiesToEven() throws {
        let steps: [Float] = [2.5, 3.5, -2.5, -3.5, 0.5, -0.5, 1.25, 1.75, -1.25, -1.75, 100.5, 101.5]
        let expectedCodes = [2, 4, -2, -4, 0, 0, 1, 2, -1, -2, 100, 102]
        for (sampleFormat, bits) in [(WAVSampleFormat.pcm8, 8), (.pcm16, 16), (.pcm24, 24), (.pcm32, 32)] {
            let full = Float(1 << (bits - 1))
            let format = WAVFormat(sampleFormat: sampleFormat, channelCount: 1, sampleRate: 8000)
            let target = url("ties\(bits).wav")
            try WAVWriter.write(AudioBuffer(mono: steps.map { $0 / full }, sampleRate: 8000), to: target,
                                format: format)
            let data = try XCTUnwrap(chunkBody("data", in: try Data(contentsOf: target)))
            let expected = expectedCodes.flatMap { bits == 8 ? [UInt8($0 + 128)] : le($0, bits / 8) }
            XCTAssertEqual(data, expected, "\(sampleFormat)")
        }
    }

    func testPCMFileReadThenWrittenIsByteIdentical() throws {
        var rng = RandomGenerator(seed: 2)
        for (bits, channels) in [(8, 1), (16, 2), (24, 3)] {
            let frames = 101
            let samples = (0..<(frames * channels * bits / 8)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let fmt = bits > 16 || channels > 2
                ? extensibleFmtBody(channels: channels, rate: 44100, bits: bits, validBits: bits)
                : fmtBody(channels: channels, rate: 44100, bits: bits)
            let source = url("in\(bits).wav"), copy = url("out\(bits).wav")
            try riff([("fmt ", fmt), ("data", samples)]).write(to: source)

            let (buffer, format) = try WAVReader.read(url: source)
            XCTAssertEqual(try WAVWriter.write(buffer, to: copy, format: format), 0)
            XCTAssertEqual(chunkBody("data", in: try Data(contentsOf: copy)), samples, "\(bits)-bit")
        }
    }

    func testFloat32AndFloat64RoundTripExactlyIncludingValuesBeyondOne() throws {
        var rng = RandomGenerator(seed: 3)
        let special: [Float] = [0, -0.0, .leastNonzeroMagnitude * 3, -1, 1, 1.75, -3.5]
        let values = special + (0..<200).map { _ in rng.uniform(-2, 2) }
        for sampleFormat in [WAVSampleFormat.float32, .float64] {
            let format = WAVFormat(sampleFormat: sampleFormat, channelCount: 1, sampleRate: 16000)
            let target = url("\(sampleFormat.bitsPerSample).wav")
            let clipped = try WAVWriter.write(AudioBuffer(mono: values, sampleRate: 16000), to: target, format: format)
            XCTAssertEqual(clipped, 0)
            let (buffer, readFormat) = try WAVReader.read(url: target)
            XCTAssertEqual(readFormat, format)
            XCTAssertEqual(buffer.channels[0].map(\.bitPattern), values.map(\.bitPattern), "\(sampleFormat)")
        }
    }

    func testSixChannel24BitIsWrittenAsExtensibleAndReadBack() throws {
        let format = WAVFormat(sampleFormat: .pcm24, channelCount: 6, sampleRate: 48000)
        let channels = (0..<6).map { c in (0..<50).map { Float(c * 1000 - $0 * 37) / 8_388_608 } }
        let target = url("surround.wav")
        try WAVWriter.write(AudioBuffer(channels: channels, sampleRate: 48000), to: target, format: format)

        let file = try Data(contentsOf: target)
        let fmt = try XCTUnwrap(chunkBody("fmt ", in: file))
        XCTAssertEqual(fmt.count, 40)
        XCTAssertEqual(u16(fmt, 0), 0xFFFE)
        XCTAssertEqual(u16(fmt, 2), 6)
        XCTAssertEqual(u32(fmt, 4), 48000)
        XCTAssertEqual(u32(fmt, 8), 48000 * 18)
        XCTAssertEqual(u16(fmt, 12), 18)
        XCTAssertEqual(u16(fmt, 14), 24)
        XCTAssertEqual(u16(fmt, 16), 22, "cbSize")
        XCTAssertEqual(u16(fmt, 18), 24, "valid bits")
        XCTAssertEqual(Array(fmt[24..<40]), [1, 0, 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71])
        XCTAssertEqual(chunkBody("data", in: file)?.count, 50 * 18)
        XCTAssertEqual(u32(Array(file), 4), file.count - 8, "RIFF size")

        let (buffer, readFormat) = try WAVReader.read(url: target)
        XCTAssertEqual(readFormat, format)
        XCTAssertEqual(buffer.channels, channels)
    }

    func testStereo16BitIsWrittenWithPlainFmtAndFloatGetsFactChunk() throws {
        let stereo = url("stereo.wav")
        try WAVWriter.write(AudioBuffer(channels: [[0.5, 0], [0, -0.5]], sampleRate: 8000), to: stereo,
                            format: WAVFormat(sampleFormat: .pcm16, channelCount: 2, sampleRate: 8000))
        let file = try Data(contentsOf: stereo)
        XCTAssertEqual(file.count, 44 + 8)
        XCTAssertEqual(chunkBody("fmt ", in: file), fmtBody(code: 1, channels: 2, rate: 8000, bits: 16))

        let mono = url("float.wav")
        try WAVWriter.write(AudioBuffer(mono: [0.25, 0.5, 0.75], sampleRate: 8000), to: mono,
                            format: WAVFormat(sampleFormat: .float32, channelCount: 1, sampleRate: 8000))
        let floatFile = try Data(contentsOf: mono)
        XCTAssertEqual(chunkBody("fmt ", in: floatFile), fmtBody(code: 3, channels: 1, rate: 8000, bits: 32) + le(0, 2),
                       "float mono: the plain IEEE-float fmt with cbSize 0, not extensible")
        XCTAssertEqual(chunkBody("fact", in: floatFile), le(3, 4), "fact holds the frame count")
    }

    func testOddSizedDataChunkIsPaddedAndSizesArePatched() throws {
        let target = url("odd.wav")
        try WAVWriter.write(AudioBuffer(mono: [0, 0.5, -1], sampleRate: 8000), to: target,
                            format: WAVFormat(sampleFormat: .pcm8, channelCount: 1, sampleRate: 8000))
        let file = [UInt8](try Data(contentsOf: target))
        XCTAssertEqual(file.count, 44 + 3 + 1)
        XCTAssertEqual(u32(file, 4), 40, "RIFF size counts the pad byte")
        XCTAssertEqual(u32(file, 40), 3, "data size does not")
        XCTAssertEqual(Array(file[44...]), [128, 192, 0, 0])
        XCTAssertEqual(try WAVReader.read(url: target).buffer.channels, [[0, 0.5, -1]])
    }

    func testFileWithNoFramesReadsAsEmptyBuffer() throws {
        let target = url("empty.wav")
        let format = WAVFormat(sampleFormat: .pcm24, channelCount: 3, sampleRate: 96000)
        try WAVWriter(url: target, format: format).finish()
        let reader = try WAVReader(url: target)
        XCTAssertEqual(reader.format, format)
        XCTAssertEqual(reader.frameCount, 0)
        XCTAssertNil(try reader.read(maxFrames: 100))
        let (buffer, _) = try WAVReader.read(url: target)
        XCTAssertEqual(buffer.channels, [[], [], []])
    }

    // MARK: Chunk layout

    func testReaderAcceptsExtensibleWithFewerValidBitsThanContainer() throws {
        // 24 valid bits, left-justified in 32-bit containers: the low byte is zero.
        let codes = [-8_388_608, 8_388_607, 0, 12345, -1]
        let samples = codes.flatMap { le($0 << 8, 4) }
        let data = riff([("fmt ", extensibleFmtBody(channels: 1, bits: 32, validBits: 24)), ("data", samples)])
        try data.write(to: url("valid24.wav"))
        let (buffer, format) = try WAVReader.read(url: url("valid24.wav"))
        XCTAssertEqual(format, WAVFormat(sampleFormat: .pcm32, channelCount: 1, sampleRate: 48000))
        XCTAssertEqual(buffer.channels[0], codes.map { Float($0) / 8_388_608 })
    }

    func testReaderFindsFmtAfterListChunkAndSkipsOddSizedUnknownChunks() throws {
        let samples = [Int16(1000), -2000, 32767, -32768]
        let data = riff([
            ("LIST", Array("INFOISFT\u{5}\0\0\0abcde".utf8)),  // 17 bytes: odd, padded
            ("fmt ", fmtBody(channels: 2, rate: 32000, bits: 16)),
            ("junk", [1, 2, 3]),  // odd, padded
            ("data", samples.flatMap { le(Int($0), 2) }),
            ("LIST", [9, 9]),  // after data: never needed
        ])
        try data.write(to: url("chunks.wav"))
        let (buffer, format) = try WAVReader.read(url: url("chunks.wav"))
        XCTAssertEqual(format, WAVFormat(sampleFormat: .pcm16, channelCount: 2, sampleRate: 32000))
        let scale: Float = 1 / 32768
        XCTAssertEqual(buffer.channels, [[1000 * scale, 32767 * scale], [-2000 * scale, -1]])
    }

    func testReaderAcceptsDataBeforeFmtAndOddDataFollowedByChunks() throws {
        let data = riff([("data", [0, 128, 255]), ("fmt ", fmtBody(rate: 11025, bits: 8)), ("note", [7])])
        try data.write(to: url("order.wav"))
        let (buffer, format) = try WAVReader.read(url: url("order.wav"))
        XCTAssertEqual(format, WAVFormat(sampleFormat: .pcm8, channelCount: 1, sampleRate: 11025))
        XCTAssertEqual(buffer.channels, [[-1, 0, 127 / 128]])
    }

    // MARK: Streaming

    func testStreamingReadInOddPiecesEqualsWholeRead() throws {
        var rng = RandomGenerator(seed: 4)
        let frames = 1001
        let channels = (0..<3).map { _ in (0..<frames).map { _ in Float(Int.random(in: -8_388_608..<8_388_608,
                                                                                  using: &rng)) / 8_388_608 } }
        let target = url("stream.wav")
        let format = WAVFormat(sampleFormat: .pcm24, channelCount: 3, sampleRate: 16000)
        try WAVWriter.write(AudioBuffer(channels: channels, sampleRate: 16000), to: target, format: format)
        let whole = try WAVReader.read(url: target).buffer

        // A 100-byte buffer holds 11 frames of 9 bytes: pieces cross refills at every offset.
        let reader = try WAVReader(url: target, bufferBytes: 100)
        XCTAssertEqual(reader.frameCount, frames)
        var pieces = [[Float]](repeating: [], count: 3)
        let sizes = [1, 7, 33, 5, 129, 11, 3]
        var step = 0
        while let piece = try reader.read(maxFrames: sizes[step % sizes.count]) {
            XCTAssertEqual(piece.frameCount, min(sizes[step % sizes.count], frames - pieces[0].count))
            XCTAssertEqual(piece.sampleRate, 16000)
            for c in 0..<3 { pieces[c] += piece.channels[c] }
            step += 1
        }
        XCTAssertEqual(pieces, whole.channels)
        XCTAssertEqual(whole.channels, channels)
        XCTAssertEqual(reader.framesRead, frames)
        XCTAssertNil(try reader.read(maxFrames: 10))
    }

    func testWriterInSmallPiecesWithTinyStagingMatchesOneShotWrite() throws {
        var rng = RandomGenerator(seed: 5)
        let channels = (0..<2).map { _ in (0..<777).map { _ in rng.uniform(-1.2, 1.2) } }
        let format = WAVFormat(sampleFormat: .pcm16, channelCount: 2, sampleRate: 16000)
        let oneShot = url("one.wav"), pieces = url("pieces.wav")
        let expectedClipped = try WAVWriter.write(AudioBuffer(channels: channels, sampleRate: 16000), to: oneShot,
                                                  format: format)
        XCTAssertEqual(expectedClipped, channels.joined().filter { abs($0) > 1 }.count)

        let writer = try WAVWriter(url: pieces, format: format, expectedFrames: 777, bufferBytes: 30)
        var start = 0
        for size in [1, 250, 3, 0, 523] {
            let slice = channels.map { Array($0[start..<(start + size)]) }
            try writer.write(AudioBuffer(channels: slice, sampleRate: 16000))
            start += size
        }
        XCTAssertEqual(writer.framesWritten, 777)
        try writer.finish()
        XCTAssertEqual(writer.clippedSamples, expectedClipped)
        XCTAssertEqual(try Data(contentsOf: pieces), try Data(contentsOf: oneShot))
    }

    // MARK: Clipping

    func testOutOfRangeAndNaNSamplesAreClampedAndCounted() throws {
        let target = url("clip.wav")
        let writer = try WAVWriter(url: target, format: WAVFormat(sampleFormat: .pcm16, channelCount: 1,
                                                                  sampleRate: 16000))
        try writer.write(AudioBuffer(mono: [0.5, 1.5, -2, .nan], sampleRate: 16000))
        XCTAssertEqual(writer.clippedSamples, 3)
        try writer.write(AudioBuffer(mono: [1, -1, .infinity, -.infinity, 0.25], sampleRate: 16000))
        XCTAssertEqual(writer.clippedSamples, 5, "±1 themselves are not clipped")
        try writer.finish()
        let read = try WAVReader.read(url: target).buffer.channels[0]
        let top: Float = 32767 / 32768
        XCTAssertEqual(read, [0.5, top, -1, 0, top, -1, top, -1, 0.25])
    }

    func testFloatWriterKeepsLargeValuesButReplacesNaNAndInfinity() throws {
        let target = url("clipfloat.wav")
        let clipped = try WAVWriter.write(AudioBuffer(mono: [1.5, .nan, .infinity, -0.5], sampleRate: 16000),
                                          to: target, format: WAVFormat(sampleFormat: .float32, channelCount: 1,
                                                                        sampleRate: 16000))
        XCTAssertEqual(clipped, 2)
        XCTAssertEqual(try WAVReader.read(url: target).buffer.channels[0], [1.5, 0, 1, -0.5])
    }

    // MARK: Bad input

    func testEmptyFileIsRejected() {
        assertReadThrows(Data()) { .emptyFile(path: $0) }
    }

    // MARK: Variants: G.711, 24-in-32, RF64

    func testMuLawDecodesAsG711Specifies() throws {
        // Code words and the 16-bit values G.711 gives them: zeros, the smallest steps and both extremes.
        let expected: [UInt8: Int16] = [0xFF: 0, 0x7F: 0, 0xFE: 8, 0x7E: -8, 0xEF: 132, 0x80: 32124, 0x00: -32124]
        let codes = Array(expected.keys)
        try riff([("fmt ", fmtBody(code: 7, bits: 8)), ("data", codes)]).write(to: url("mulaw.wav"))
        let (buffer, format) = try WAVReader.read(url: url("mulaw.wav"))
        XCTAssertEqual(format.sampleFormat, .muLaw)
        XCTAssertEqual(buffer.channels[0], codes.map { Float(expected[$0] ?? 0) / 32768 })
    }

    func testALawDecodesAsG711Specifies() throws {
        let expected: [UInt8: Int16] = [0xD5: 8, 0x55: -8, 0xD4: 24, 0xC5: 264, 0xAA: 32256, 0x2A: -32256]
        let codes = Array(expected.keys)
        try riff([("fmt ", fmtBody(code: 6, bits: 8)), ("data", codes)]).write(to: url("alaw.wav"))
        let (buffer, format) = try WAVReader.read(url: url("alaw.wav"))
        XCTAssertEqual(format.sampleFormat, .aLaw)
        XCTAssertEqual(buffer.channels[0], codes.map { Float(expected[$0] ?? 0) / 32768 })
    }

    func testG711TablesAreOddSymmetricAndMonotonicInMagnitude() {
        for (table, positiveBit) in [(G711.muLawTable, false), (G711.aLawTable, true)] {
            for code in 0..<128 {
                // Flipping the sign bit negates the value.
                XCTAssertEqual(Int(table[code]), -Int(table[code | 0x80]), "code \(code)")
            }
            // Magnitude grows with the (un-inverted) segment and step bits.
            let positive = (0..<128).map { code -> Int in
                let word = positiveBit ? (UInt8(code) | 0x80) ^ 0x55 : ~UInt8(code)
                return Int(table[Int(word)])
            }
            XCTAssertEqual(positive, positive.sorted())
            XCTAssertEqual(Set(positive).count, 128)
        }
    }

    func testG711IsWrittenBackAs16BitPCM() throws {
        try riff([("fmt ", fmtBody(code: 7, bits: 8)), ("data", [0x80, 0x00, 0xEF])]).write(to: url("in.wav"))
        let (buffer, format) = try WAVReader.read(url: url("in.wav"))
        let writer = try WAVWriter(url: url("out.wav"), format: format)
        XCTAssertEqual(writer.format.sampleFormat, .pcm16)
        try writer.write(buffer)
        try writer.finish()
        let data = try XCTUnwrap(chunkBody("data", in: try Data(contentsOf: url("out.wav"))))
        XCTAssertEqual(data, le(32124, 2) + le(-32124, 2) + le(132, 2))
    }

    func testTwentyFourBitsInFourByteContainersUnderAPlainHeaderAreRead() throws {
        // Two channels, block align 8, bits 24: each sample is 24 bits in the top of 4 bytes.
        let values = [0x123456, -0x123456, 0x7FFFFF, -0x800000]
        let data = values.flatMap { le($0 << 8, 4) }
        try riff([("fmt ", fmtBody(channels: 2, bits: 24, blockAlign: 8)), ("data", data)]).write(to: url("24in32.wav"))
        let (buffer, format) = try WAVReader.read(url: url("24in32.wav"))
        XCTAssertEqual(format.sampleFormat, .pcm24in32)
        XCTAssertEqual(buffer.frameCount, 2)
        XCTAssertEqual(buffer.channels[0], [0x123456, 0x7FFFFF].map { Float($0) / 8_388_608 })
        XCTAssertEqual(buffer.channels[1], [-0x123456, -0x800000].map { Float($0) / 8_388_608 })
        // Written back as 32-bit PCM: the same bytes under a standard header.
        XCTAssertEqual(try WAVWriter.write(buffer, to: url("copy.wav"), format: format), 0)
        XCTAssertEqual(chunkBody("data", in: try Data(contentsOf: url("copy.wav"))), data)
        XCTAssertEqual(try WAVReader(url: url("copy.wav")).format.sampleFormat, .pcm32)
    }

    func testRF64FileIsReadThroughItsDS64Sizes() throws {
        let samples = le(7, 2) + le(-7, 2) + le(9, 2) + [0xAB, 0xCD]  // 3 frames, then 2 bytes of another chunk
        var ds64 = Bytes()
        ds64.bytes += le(0, 8) + le(6, 8) + le(3, 8) + le(0, 4)
        for magic in ["RF64", "BW64"] {
            var b = Bytes()
            b.id(magic); b.u32(0xFFFF_FFFF); b.id("WAVE")
            b.chunk("ds64", ds64.bytes)
            b.chunk("fmt ", fmtBody())
            b.id("data"); b.u32(0xFFFF_FFFF); b.bytes += samples
            try Data(b.bytes).write(to: url("big.wav"))
            let (buffer, _) = try WAVReader.read(url: url("big.wav"))
            XCTAssertEqual(buffer.channels[0], [7, -7, 9].map { Float($0) / 32768 }, magic)
        }
    }

    func testRF64WithoutDS64IsRejected() {
        var b = Bytes()
        b.id("RF64"); b.u32(0xFFFF_FFFF); b.id("WAVE")
        b.chunk("fmt ", fmtBody())
        b.chunk("data", [0, 0])
        assertReadThrows(Data(b.bytes)) { .invalidDS64(path: $0, detail: "no ds64 chunk after \"WAVE\"") }
    }

    func testWriterTurnsToRF64PastTheRIFFLimitAndReadsBack() throws {
        let format = WAVFormat(sampleFormat: .pcm16, channelCount: 1, sampleRate: 16000)
        let samples = (0..<600).map { Float($0 - 300) / 512 }
        let buffer = AudioBuffer(channels: [samples], sampleRate: 16000)
        // 1200 bytes of data pass a limit of 1000: unknown length keeps room for ds64, which is then used.
        let writer = try WAVWriter(url: url("big.wav"), format: format, expectedFrames: nil, bufferBytes: 64,
                                   riffLimit: 1000)
        try writer.write(buffer)
        try writer.finish()
        let file = try Data(contentsOf: url("big.wav"))
        XCTAssertEqual(String(decoding: file[0..<4], as: UTF8.self), "RF64")
        XCTAssertEqual(u32([UInt8](file), 4), 0xFFFF_FFFF)
        let ds64 = try XCTUnwrap(chunkBody("ds64", in: file))
        XCTAssertEqual(Array(ds64[8..<16]), le(1200, 8), "data size")
        XCTAssertEqual(Array(ds64[16..<24]), le(600, 8), "sample count")
        XCTAssertEqual(Array(ds64[0..<8]), le(file.count - 8, 8), "RIFF size")
        XCTAssertEqual(try WAVReader.read(url: url("big.wav")).buffer.channels[0], samples)

        // Below the limit the reserved chunk stays JUNK and the file is plain RIFF.
        let small = try WAVWriter(url: url("small.wav"), format: format, expectedFrames: nil, bufferBytes: 64,
                                  riffLimit: 10_000)
        try small.write(buffer)
        try small.finish()
        let smallFile = try Data(contentsOf: url("small.wav"))
        XCTAssertEqual(String(decoding: smallFile[0..<4], as: UTF8.self), "RIFF")
        XCTAssertNotNil(chunkBody("JUNK", in: smallFile))
        XCTAssertEqual(try WAVReader.read(url: url("small.wav")).buffer.channels[0], samples)
    }

    func testWriterWithAKnownSmallLengthKeepsNoRoomAndRefusesToOutgrowRIFF() throws {
        let format = WAVFormat(sampleFormat: .pcm16, channelCount: 1, sampleRate: 16000)
        let writer = try WAVWriter(url: url("a.wav"), format: format, expectedFrames: 100, bufferBytes: 64,
                                   riffLimit: 1000)
        try writer.write(AudioBuffer(channels: [[Float](repeating: 0, count: 100)], sampleRate: 16000))
        XCTAssertThrowsError(try writer.write(AudioBuffer(channels: [[Float](repeating: 0, count: 500)],
                                                          sampleRate: 16000))) { error in
            XCTAssertEqual(error as? WAVError, .tooLargeForRIFF(path: url("a.wav").relativePath))
        }
        writer.cancel()
        XCTAssertEqual(try folderContents(), [])
    }

    // MARK: Streams (pipes)

    /// A pipe with `bytes` already written into it; the write end stays open until the returned closer runs.
    private func pipeWith(_ bytes: [UInt8]) -> (read: Int32, write: Int32) {
        var ends: [Int32] = [-1, -1]
        XCTAssertEqual(pipe(&ends), 0)
        bytes.withUnsafeBytes { _ = write(ends[1], $0.baseAddress, $0.count) }
        return (ends[0], ends[1])
    }

    private func streamHeader(dataSize: Int = 0xFFFF_FFFF) -> [UInt8] {
        var b = Bytes()
        b.id("RIFF"); b.u32(0xFFFF_FFFF); b.id("WAVE")
        b.chunk("LIST", [1, 2, 3])  // skipped, not kept
        b.chunk("fmt ", fmtBody())
        b.id("data"); b.u32(dataSize)
        return b.bytes
    }

    func testStreamReaderHandsOverWhatHasArrivedWithoutWaitingForAFullBlock() throws {
        let ends = pipeWith(streamHeader() + (0..<100).flatMap { le($0, 2) } + [0x34])  // 100 frames and a half
        defer { close(ends.read) }
        let reader = try WAVReader(fileDescriptor: ends.read, name: "stdin")
        XCTAssertTrue(reader.isStream)
        XCTAssertEqual(try reader.read(maxFrames: 65536)?.channels[0], (0..<100).map { Float($0) / 32768 })
        // The half frame is completed by what comes next.
        [UInt8]([0x12, 0x05, 0x00]).withUnsafeBytes { _ = write(ends.write, $0.baseAddress, $0.count) }
        close(ends.write)
        XCTAssertEqual(try reader.read(maxFrames: 65536)?.channels[0], [Float(0x1234), 5].map { $0 / 32768 })
        XCTAssertNil(try reader.read(maxFrames: 65536))
        XCTAssertEqual(reader.frameCount, 102)
        XCTAssertEqual(reader.warnings, [])
    }

    func testStreamWithAKnownDataSizeStopsThereAndWarnsWhenItEndsEarly() throws {
        let exact = pipeWith(streamHeader(dataSize: 4) + le(1, 2) + le(2, 2) + le(3, 2))  // a third frame too many
        close(exact.write)
        defer { close(exact.read) }
        let reader = try WAVReader(fileDescriptor: exact.read, name: "stdin")
        XCTAssertEqual(try reader.read(maxFrames: 10)?.channels[0], [1, 2].map { Float($0) / 32768 })
        XCTAssertNil(try reader.read(maxFrames: 10))

        let short = pipeWith(streamHeader(dataSize: 8) + le(1, 2))
        close(short.write)
        defer { close(short.read) }
        let cut = try WAVReader(fileDescriptor: short.read, name: "stdin")
        XCTAssertEqual(try cut.read(maxFrames: 10)?.frameCount, 1)
        XCTAssertNil(try cut.read(maxFrames: 10))
        XCTAssertEqual(cut.warnings, [.dataCutShort(path: "stdin", claimed: 8, available: 2)])
    }

    func testStreamWithDataBeforeFmtIsRejected() {
        var b = Bytes()
        b.id("RIFF"); b.u32(0xFFFF_FFFF); b.id("WAVE")
        b.chunk("data", [0, 0])
        b.chunk("fmt ", fmtBody())
        let ends = pipeWith(b.bytes)
        close(ends.write)
        defer { close(ends.read) }
        XCTAssertThrowsError(try WAVReader(fileDescriptor: ends.read, name: "stdin")) { error in
            XCTAssertEqual(error as? WAVError, .fmtAfterDataInStream(path: "stdin"))
        }
    }

    func testWriterToAPipeSaysSizesAreUnknownAndSendsEachWriteAtOnce() throws {
        let ends = pipeWith([])
        defer { close(ends.read) }
        let format = WAVFormat(sampleFormat: .pcm16, channelCount: 1, sampleRate: 16000)
        let writer = try WAVWriter(fileDescriptor: ends.write, name: "stdout", format: format)
        try writer.write(AudioBuffer(channels: [[0.5, -0.5]], sampleRate: 16000))
        // Readable now, before finish: nothing waits in a staging buffer.
        var bytes = [UInt8](repeating: 0, count: 100)
        let got = bytes.withUnsafeMutableBytes { read(ends.read, $0.baseAddress, 100) }
        XCTAssertEqual(got, 48)
        XCTAssertEqual(u32(bytes, 4), 0xFFFF_FFFF, "RIFF size")
        XCTAssertEqual(u32(bytes, 40), 0xFFFF_FFFF, "data size")
        XCTAssertEqual(Array(bytes[44..<48]), le(16384, 2) + le(-16384, 2))
        try writer.finish()
        close(ends.write)
    }

    func testNonRIFFFileIsRejected() {
        assertReadThrows(Data("OggS\0\u{2}\0\0\0\0\0\0\0\0".utf8)) { .notRIFF(path: $0, found: "OggS") }
        let text = assertReadThrows(Data("RIFX\0\0\0\u{4}WAVE".utf8), name: "big.wav") {
            .notRIFF(path: $0, found: "RIFX")
        }
        XCTAssertTrue(text.contains("big-endian"))
        assertReadThrows(Data([0xFF, 0xFB, 0x90, 0x64, 0, 0])) { .notRIFF(path: $0, found: "\\xFF\\xFB\\x90d") }
    }

    func testRIFFFileOfAnotherFormTypeIsRejected() {
        let avi = riff([("avih", [0, 0, 0, 0])], formType: "AVI ")
        assertReadThrows(avi) { .notWAVE(path: $0, formType: "AVI ") }
    }

    func testTruncatedHeadersAreRejected() {
        let short = Data("RIFF\u{4}\0\0\0WA".utf8)
        assertReadThrows(short) { .truncatedHeader(path: $0, detail: "the file is 10 bytes, shorter than the "
                                                   + "12-byte RIFF header") }
        let cutChunkHeader = Data("RIFF\u{20}\0\0\0WAVEfmt ".utf8) + Data([16, 0])
        assertReadThrows(cutChunkHeader) {
            .truncatedHeader(path: $0, detail: "the file ends inside a chunk header at byte 12")
        }
        var cutFmt = riff([("fmt ", fmtBody())])
        cutFmt.removeLast(6)
        assertReadThrows(cutFmt) { .truncatedHeader(path: $0, detail: "fmt chunk claims 16 bytes but only 10 remain") }
    }

    func testFmtChunkTooShortIsRejected() {
        let short = riff([("fmt ", Array(fmtBody().prefix(14))), ("data", [0, 0])])
        assertReadThrows(short) { .fmtChunkTooShort(path: $0, size: 14, required: 16) }
        let shortExtensible = riff([("fmt ", Array(extensibleFmtBody(channels: 1, bits: 24, validBits: 24)
                                                    .prefix(24))), ("data", [0, 0, 0])])
        assertReadThrows(shortExtensible) { .fmtChunkTooShort(path: $0, size: 24, required: 40) }
    }

    func testMissingFmtOrDataChunkIsRejected() {
        assertReadThrows(riff([("LIST", [1, 2]), ("data", [0, 0])])) { .missingFmtChunk(path: $0) }
        assertReadThrows(riff([("fmt ", fmtBody()), ("LIST", [1, 2, 3])])) { .missingDataChunk(path: $0) }
    }

    func testDataChunkCutShortIsReadAsFarAsItGoesWithAWarning() throws {
        var b = Bytes()
        b.id("RIFF"); b.u32(4_000_100); b.id("WAVE")
        b.chunk("fmt ", fmtBody())
        b.id("data"); b.u32(4_000_000); b.bytes += le(1000, 2) + le(-1000, 2) + [0x10]  // 2 frames and a half
        try Data(b.bytes).write(to: url("liar.wav"))
        let reader = try WAVReader(url: url("liar.wav"))
        XCTAssertEqual(reader.frameCount, 2)
        XCTAssertEqual(reader.warnings, [.dataCutShort(path: url("liar.wav").relativePath, claimed: 4_000_000,
                                                       available: 5)])
        XCTAssertTrue(reader.warnings[0].description.contains("liar.wav: data chunk claims 4000000 bytes but only 5"))
        XCTAssertEqual(try reader.read(maxFrames: 10)?.channels[0], [1000 / 32768, -1000 / 32768])
    }

    func testSizeFieldsOfZeroOrAllOnesReadToTheEndOfTheFile() throws {
        let samples = le(100, 2) + le(200, 2) + le(300, 2)
        for (riffSize, dataSize) in [(0xFFFF_FFFF, 0xFFFF_FFFF), (0, 0), (0xFFFF_FFFF, 0), (1000, 0xFFFF_FFFF)] {
            var b = Bytes()
            b.id("RIFF"); b.u32(riffSize); b.id("WAVE")
            b.chunk("fmt ", fmtBody())
            b.id("data"); b.u32(dataSize); b.bytes += samples
            try Data(b.bytes).write(to: url("stream.wav"))
            let reader = try WAVReader(url: url("stream.wav"))
            XCTAssertEqual(reader.frameCount, 3, "RIFF size \(riffSize), data size \(dataSize)")
            XCTAssertEqual(reader.warnings, [])
            XCTAssertEqual(try reader.read(maxFrames: 10)?.channels[0], [100, 200, 300].map { Float($0) / 32768 })
        }
    }

    func testZeroDataSizeUnderAFilledInRIFFSizeIsAnEmptyDataChunk() throws {
        let file = riff([("fmt ", fmtBody()), ("data", []), ("LIST", [1, 2, 3, 4])])
        try file.write(to: url("empty-data.wav"))
        XCTAssertEqual(try WAVReader(url: url("empty-data.wav")).frameCount, 0)
    }

    func testUnknownChunkRunningPastTheEndIsRejected() {
        var b = Bytes()
        b.id("RIFF"); b.u32(100); b.id("WAVE")
        b.chunk("fmt ", fmtBody())
        b.chunk("LIST", [1, 2, 3, 4], size: 1000)
        assertReadThrows(Data(b.bytes)) { .chunkTooLarge(path: $0, chunkID: "LIST", claimed: 1000, available: 4) }
    }

    func testChannelCountsOutsideOneToEightAreRejected() {
        let zero = riff([("fmt ", fmtBody(channels: 0, blockAlign: 2)), ("data", [0, 0])])
        assertReadThrows(zero) { .invalidChannelCount(path: $0, count: 0) }
        let nine = riff([("fmt ", extensibleFmtBody(channels: 9, bits: 16, validBits: 16)), ("data", [0, 0])])
        let text = assertReadThrows(nine) { .invalidChannelCount(path: $0, count: 9) }
        XCTAssertTrue(text.contains("9 channels"))
    }

    func testSampleRatesOutside1000To768000AreRejected() throws {
        for rate in [0, 999, 768_001, 4_000_000_000] {
            assertReadThrows(riff([("fmt ", fmtBody(rate: rate)), ("data", [0, 0])])) {
                .invalidSampleRate(path: $0, rate: rate)
            }
        }
        for rate in [1000, 768_000] {
            try riff([("fmt ", fmtBody(rate: rate)), ("data", [0, 0])]).write(to: url("edge.wav"))
            XCTAssertEqual(try WAVReader(url: url("edge.wav")).format.sampleRate, rate)
        }
    }

    func testCompressedCodecsAreRejectedByName() {
        let names = [0x2: "Microsoft ADPCM", 0x11: "IMA ADPCM", 0x55: "MPEG Layer 3", 0x1234: "format 0x1234"]
        for (code, name) in names {
            let file = riff([("fmt ", fmtBody(code: code, bits: 8)), ("fact", le(2, 4)), ("data", [0, 0])])
            let text = assertReadThrows(file) { .unsupportedCodec(path: $0, code: code) }
            XCTAssertTrue(text.contains(name), text)
        }
    }

    func testExtensibleWithCompressedOrUnknownSubFormatIsRejected() {
        let adpcm = riff([("fmt ", extensibleFmtBody(channels: 1, bits: 8, validBits: 8, subFormat: 2)),
                          ("data", [0, 0])])
        assertReadThrows(adpcm) { .unsupportedCodec(path: $0, code: 2) }
        let other = riff([("fmt ", extensibleFmtBody(channels: 1, bits: 16, validBits: 16,
                                                     guid: Array(1...16))), ("data", [0, 0])])
        assertReadThrows(other) {
            .unsupportedSubFormat(path: $0, guid: "{04030201-0605-0807-090A-0B0C0D0E0F10}")
        }
    }

    func testUnsupportedBitDepthsAreRejected() {
        let pcm12 = riff([("fmt ", fmtBody(bits: 12, blockAlign: 2)), ("data", [0, 0])])
        assertReadThrows(pcm12) { .unsupportedBitDepth(path: $0, bits: 12, isFloat: false) }
        let float16 = riff([("fmt ", fmtBody(code: 3, bits: 16)), ("data", [0, 0])])
        assertReadThrows(float16) { .unsupportedBitDepth(path: $0, bits: 16, isFloat: true) }
        let container20 = riff([("fmt ", extensibleFmtBody(channels: 1, bits: 20, validBits: 20)),
                                ("data", [0, 0, 0])])
        assertReadThrows(container20) { .unsupportedBitDepth(path: $0, bits: 20, isFloat: false) }
        let tooManyValid = riff([("fmt ", extensibleFmtBody(channels: 1, bits: 16, validBits: 24)), ("data", [0, 0])])
        assertReadThrows(tooManyValid) { .invalidValidBits(path: $0, validBits: 24, containerBits: 16) }
    }

    func testBlockAlignInconsistentWithChannelsIsRejected() {
        let file = riff([("fmt ", fmtBody(channels: 2, bits: 16, blockAlign: 2)), ("data", [0, 0, 0, 0])])
        assertReadThrows(file) { .inconsistentBlockAlign(path: $0, blockAlign: 2, expected: 4) }
    }

    func testNaNInFloatDataIsRejectedNamingTheFrame() throws {
        var samples = [Float](repeating: 0.1, count: 12)  // 6 stereo frames
        samples[7] = .nan  // frame 3, channel 1
        let file = riff([("fmt ", fmtBody(code: 3, channels: 2, bits: 32)),
                         ("data", samples.flatMap { le(Int($0.bitPattern), 4) })])
        let text = assertReadThrows(file, name: "nan.wav") { .nonFiniteSample(path: $0, frame: 3, channel: 1) }
        XCTAssertTrue(text.contains("frame 3"), text)

        // Streaming: the frames before the bad one are delivered; the bad piece throws each time.
        let reader = try WAVReader(url: url("nan.wav"))
        XCTAssertEqual(try reader.read(maxFrames: 3)?.frameCount, 3)
        XCTAssertThrowsError(try reader.read(maxFrames: 3))
        XCTAssertThrowsError(try reader.read(maxFrames: 3))
    }

    func testInfinityInFloat64DataIsRejectedWithItsFrameAcrossBufferRefills() throws {
        var samples = [Double](repeating: -0.25, count: 20)
        samples[13] = -.infinity
        let file = riff([("fmt ", fmtBody(code: 3, bits: 64)), ("data", samples.flatMap { v in
            (0..<8).map { UInt8(truncatingIfNeeded: v.bitPattern >> (8 * $0)) }
        })])
        try file.write(to: url("inf.wav"))
        let reader = try WAVReader(url: url("inf.wav"), bufferBytes: 40)  // 5 frames per refill
        XCTAssertThrowsError(try reader.read(maxFrames: 20)) { error in
            XCTAssertEqual(error as? WAVError, .nonFiniteSample(path: url("inf.wav").relativePath, frame: 13,
                                                                channel: 0))
        }
    }

    func testDirectoryMissingFileAndUnreadableFileAreRejected() throws {
        let directory = url("dir.wav")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false)
        XCTAssertThrowsError(try WAVReader(url: directory)) { error in
            XCTAssertEqual(error as? WAVError, .isDirectory(path: directory.relativePath))
            XCTAssertTrue("\(error)".contains("dir.wav"))
        }
        XCTAssertThrowsError(try WAVReader(url: url("absent.wav"))) { error in
            XCTAssertEqual(error as? WAVError, .cannotOpen(path: url("absent.wav").relativePath,
                                                           reason: "No such file or directory"))
            XCTAssertTrue("\(error)".contains("absent.wav"))
        }
        guard getuid() != 0 else { return }  // root reads anything
        let locked = url("locked.wav")
        try riff([("fmt ", fmtBody()), ("data", [0, 0])]).write(to: locked)
        try FileManager.default.setAttributes([.posixPermissions: 0], ofItemAtPath: locked.path)
        XCTAssertThrowsError(try WAVReader(url: locked)) { error in
            XCTAssertEqual(error as? WAVError, .cannotOpen(path: locked.relativePath, reason: "Permission denied"))
        }
    }

    // MARK: Writer failure and atomicity

    func testCancelledOrAbandonedWriterLeavesNoFileBehind() throws {
        let format = WAVFormat(sampleFormat: .pcm16, channelCount: 1, sampleRate: 16000)
        let cancelled = try WAVWriter(url: url("cancelled.wav"), format: format)
        try cancelled.write(AudioBuffer(mono: [0.1, 0.2], sampleRate: 16000))
        XCTAssertEqual(try folderContents().count, 1, "the temporary file exists while writing")
        XCTAssertTrue(try folderContents()[0].hasPrefix(".cancelled.wav."))
        cancelled.cancel()
        XCTAssertEqual(try folderContents(), [])
        XCTAssertThrowsError(try cancelled.write(AudioBuffer(mono: [0], sampleRate: 16000)))
        XCTAssertThrowsError(try cancelled.finish())

        do {
            let abandoned = try WAVWriter(url: url("abandoned.wav"), format: format)
            try abandoned.write(AudioBuffer(mono: [0.1], sampleRate: 16000))
        }
        XCTAssertEqual(try folderContents(), [])
    }

    func testFailedWriteLeavesNoFileBehind() throws {
        let target = url("failed.wav")
        let stereo = WAVFormat(sampleFormat: .pcm16, channelCount: 2, sampleRate: 16000)
        XCTAssertThrowsError(try WAVWriter.write(AudioBuffer(mono: [0], sampleRate: 16000), to: target,
                                                 format: stereo)) { error in
            XCTAssertEqual(error as? WAVError, .channelCountMismatch(path: target.relativePath, expected: 2, actual: 1))
        }
        for bad in [WAVFormat(sampleFormat: .pcm16, channelCount: 0, sampleRate: 16000),
                    WAVFormat(sampleFormat: .pcm16, channelCount: 9, sampleRate: 16000),
                    WAVFormat(sampleFormat: .pcm16, channelCount: 1, sampleRate: 500)] {
            XCTAssertThrowsError(try WAVWriter(url: target, format: bad)) { error in
                XCTAssertTrue("\(error)".contains("failed.wav"), "\(error)")
            }
        }
        XCTAssertEqual(try folderContents(), [])
    }

    func testWriterReplacesExistingFileOnlyWhenFinished() throws {
        let target = url("out.wav")
        try Data("old".utf8).write(to: target)
        let writer = try WAVWriter(url: target, format: WAVFormat(sampleFormat: .pcm16, channelCount: 1,
                                                                  sampleRate: 16000))
        try writer.write(AudioBuffer(mono: [0.5], sampleRate: 16000))
        XCTAssertEqual(try Data(contentsOf: target), Data("old".utf8))
        try writer.finish()
        try writer.finish()  // a second finish does nothing
        XCTAssertEqual(try folderContents(), ["out.wav"])
        XCTAssertEqual(try WAVReader.read(url: target).buffer.channels, [[0.5]])
        XCTAssertThrowsError(try writer.write(AudioBuffer(mono: [0], sampleRate: 16000))) { error in
            XCTAssertEqual(error as? WAVError, .writerClosed(path: target.relativePath))
        }
    }

    /// A written but uncommitted file stays out of sight until `commit()`; cancelled then, it leaves nothing.
    func testWrittenFileAppearsOnlyWhenCommitted() throws {
        let format = WAVFormat(sampleFormat: .pcm16, channelCount: 1, sampleRate: 16000)
        let kept = try WAVWriter(url: url("kept.wav"), format: format)
        try kept.write(AudioBuffer(mono: [0.25], sampleRate: 16000))
        XCTAssertThrowsError(try kept.commit(), "nothing to commit before the file is complete")
        try WAVWriter(url: url("unused.wav"), format: format).cancel()
        let dropped = try WAVWriter(url: url("dropped.wav"), format: format)
        try dropped.write(AudioBuffer(mono: [0.5], sampleRate: 16000))
        try kept.finishWriting()
        try dropped.finishWriting()
        XCTAssertFalse(try folderContents().contains("kept.wav"))
        try kept.commit()
        dropped.cancel()
        XCTAssertEqual(try folderContents(), ["kept.wav"])
        XCTAssertEqual(try WAVReader.read(url: url("kept.wav")).buffer.channels, [[0.25]])
    }

    func testWriterIntoMissingFolderThrowsNamingTheFolder() {
        let target = folder.appendingPathComponent("nowhere").appendingPathComponent("a.wav")
        XCTAssertThrowsError(try WAVWriter(url: target, format: WAVFormat(sampleFormat: .pcm16, channelCount: 1,
                                                                          sampleRate: 16000))) { error in
            XCTAssertEqual(error as? AtomicFileError,
                           .folderMissing(path: target.relativePath, folder: target.deletingLastPathComponent().path))
            XCTAssertTrue("\(error)".contains("nowhere"), "\(error)")
            XCTAssertTrue("\(error)".contains("does not exist"), "\(error)")
        }
    }

    func testAtomicFileUnderARegularFileThrowsNamingThePath() throws {
        let notAFolder = url("notes.txt")
        try Data("x".utf8).write(to: notAFolder)
        let target = notAFolder.appendingPathComponent("a.wav")
        XCTAssertThrowsError(try AtomicFile.write(Data([1]), to: target)) { error in
            XCTAssertEqual(error as? AtomicFileError, .cannotCreate(path: target.relativePath,
                                                                    folder: notAFolder.path, reason: "not a folder"))
            XCTAssertTrue("\(error)".contains("notes.txt/a.wav"), "\(error)")
        }
        XCTAssertEqual(try folderContents(), ["notes.txt"])
    }

    func testAtomicFileInReadOnlyFolderThrowsNamingThePath() throws {
        guard getuid() != 0 else { throw XCTSkip("root can write into read-only folders") }
        try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: folder.path)
        let target = url("model.bin")
        XCTAssertThrowsError(try AtomicFile.write(Data([1, 2, 3]), to: target)) { error in
            XCTAssertEqual(error as? AtomicFileError, .cannotCreate(path: target.relativePath, folder: folder.path,
                                                                    reason: "Permission denied"))
        }
    }

    func testAtomicFileWriteReplacesContentsAndLeavesNoTemporary() throws {
        let target = url("model.bin")
        try AtomicFile.write(Data([1, 2, 3]), to: target)
        try AtomicFile.write(Data([4, 5]), to: target)
        XCTAssertEqual(try Data(contentsOf: target), Data([4, 5]))
        XCTAssertEqual(try folderContents(), ["model.bin"])

        let file = try AtomicFile(destination: target)
        try file.write(Data([9, 9, 9]))
        try [UInt8(7)].withUnsafeBytes { try file.write($0, atOffset: 1) }
        try file.commit()
        XCTAssertEqual(try Data(contentsOf: target), Data([9, 7, 9]))
        XCTAssertThrowsError(try file.write(Data([1])))
        XCTAssertEqual(try folderContents(), ["model.bin"])
    }
}
