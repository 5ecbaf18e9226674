import Foundation

/// The bytes of a canonical 16-bit PCM WAV file, built by hand so the tests do not depend on the library's
/// writer: "RIFF" size "WAVE", a 16-byte "fmt " chunk (format tag 1), then "data" with interleaved
/// little-endian Int16 frames.
func wav16(sampleRate: Int, channels: [[Int16]]) -> Data {
    let channelCount = channels.count
    let frames = channels[0].count
    let dataSize = frames * channelCount * 2
    var bytes = Data()
    func append32(_ value: Int) { withUnsafeBytes(of: UInt32(value).littleEndian) { bytes.append(contentsOf: $0) } }
    func append16(_ value: Int) { withUnsafeBytes(of: UInt16(value).littleEndian) { bytes.append(contentsOf: $0) } }
    bytes.append(contentsOf: Array("RIFF".utf8))
    append32(4 + (8 + 16) + (8 + dataSize))
    bytes.append(contentsOf: Array("WAVE".utf8))
    bytes.append(contentsOf: Array("fmt ".utf8))
    append32(16)
    append16(1)                                     // PCM
    append16(channelCount)
    append32(sampleRate)
    append32(sampleRate * channelCount * 2)         // bytes per second
    append16(channelCount * 2)                      // block align: bytes per frame
    append16(16)                                    // bits per sample
    bytes.append(contentsOf: Array("data".utf8))
    append32(dataSize)
    for frame in 0..<frames {
        for channel in channels { append16(Int(UInt16(bitPattern: channel[frame]))) }
    }
    return bytes
}

/// `count` samples repeating `pattern`.
func repeating(_ pattern: [Int16], count: Int) -> [Int16] {
    (0..<count).map { pattern[$0 % pattern.count] }
}
