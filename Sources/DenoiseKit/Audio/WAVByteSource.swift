import Foundation
#if canImport(Glibc)
import Glibc
private let systemRead = Glibc.read
#elseif canImport(Darwin)
import Darwin
private let systemRead = Darwin.read
#endif

/// Where a `WAVReader`'s bytes come from: a file, read at any offset with pread, or a stream (a pipe, a socket,
/// a terminal), read once from start to end.
///
/// A stream is read forward only. Header bytes are kept from the first one still wanted, so the header parser
/// can read them by offset as it does a file's; skipped chunks are read and dropped, never kept. Data is then
/// taken as it arrives (`readAvailable`), so the reader can return what a slow writer has sent so far.
final class WAVByteSource {
    let path: String
    /// The file's size; nil for a stream, whose end is known only when it comes.
    let fileSize: Int?
    var isStream: Bool { fileSize == nil }

    private let handle: FileHandle
    /// Stream only: the bytes at offsets `keptStart..<position`, and where the stream has been read to.
    private var kept: [UInt8] = []
    private var keptStart = 0
    private var position = 0

    init(handle: FileHandle, path: String, fileSize: Int?) {
        self.handle = handle
        self.path = path
        self.fileSize = fileSize
    }

    /// Reads up to `target.count` bytes at `offset`, waiting for them; returns fewer only at the end.
    func read(into target: UnsafeMutableRawBufferPointer, at offset: Int) throws -> Int {
        guard let base = target.baseAddress else { return 0 }
        guard isStream else {
            var done = 0
            while done < target.count {
                let n = pread(handle.fileDescriptor, base + done, target.count - done, off_t(offset + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw WAVError.readFailed(path: path, reason: String(cString: strerror(errno)))
                }
                if n == 0 { break }
                done += n
            }
            return done
        }
        precondition(offset >= keptStart, "a stream cannot go back to byte \(offset)")
        if offset > position {
            try skip(offset - position)
            kept = []
            keptStart = offset
        }
        while position < offset + target.count {
            var chunk = [UInt8](repeating: 0, count: offset + target.count - position)
            let got = try chunk.withUnsafeMutableBytes { try readSome($0) }
            if got == 0 { break }
            kept += chunk[0..<got]
            position += got
        }
        let available = max(0, min(target.count, position - offset))
        kept.withUnsafeBytes { bytes in
            target.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[(offset - keptStart)...].prefix(available)))
        }
        return available
    }

    /// Stream data from `offset` on: waits until at least `minimum` bytes have come (or the stream ends), then
    /// takes whatever else is already there, up to `target.count`. Header bytes kept past `offset` come first.
    func readAvailable(into target: UnsafeMutableRawBufferPointer, at offset: Int, minimum: Int) throws -> Int {
        if offset < position {
            return try read(into: UnsafeMutableRawBufferPointer(rebasing: target.prefix(position - offset)),
                            at: offset)
        }
        if offset > position { try skip(offset - position) }
        kept = []
        keptStart = offset
        var done = 0
        while done < max(1, minimum) && done < target.count {
            let got = try readSome(UnsafeMutableRawBufferPointer(rebasing: target[done...]))
            if got == 0 { break }
            done += got
        }
        position += done
        keptStart = position
        return done
    }

    /// One read(2): what has arrived, at least one byte unless the stream has ended (0).
    private func readSome(_ target: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let n = systemRead(handle.fileDescriptor, target.baseAddress, target.count)
            if n >= 0 { return n }
            if errno != EINTR { throw WAVError.readFailed(path: path, reason: String(cString: strerror(errno))) }
        }
    }

    /// Reads and drops `count` bytes (a chunk the parser does not need).
    private func skip(_ count: Int) throws {
        var scratch = [UInt8](repeating: 0, count: min(count, 1 << 16))
        var left = count
        while left > 0 {
            let got = try scratch.withUnsafeMutableBytes {
                try readSome(UnsafeMutableRawBufferPointer(rebasing: $0.prefix(left)))
            }
            if got == 0 { break }
            left -= got
            position += got
        }
    }
}
