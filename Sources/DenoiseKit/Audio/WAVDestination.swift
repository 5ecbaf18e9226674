import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a `WAVWriter`'s bytes go: an `AtomicFile` (renamed into place when complete), or a descriptor that is
/// already open, such as standard output.
protocol WAVDestination: AnyObject {
    func write(_ bytes: UnsafeRawBufferPointer) throws
    /// Only when `canPatch`.
    func write(_ bytes: UnsafeRawBufferPointer, atOffset offset: Int) throws
    func commit() throws
    func discard()
    /// Whether header sizes can be patched once known; a pipe cannot go back.
    var canPatch: Bool { get }
    /// Whether someone may be listening as it is written (standard output): then every write goes out at once.
    var isLive: Bool { get }
}

extension AtomicFile: WAVDestination {
    var canPatch: Bool { true }
    var isLive: Bool { false }
}

/// An open descriptor, e.g. standard output, written from its current position. A regular file at offset 0 can
/// have its header patched; anything else (a pipe, a terminal, a socket) is written once, front to back.
/// Nothing is removed on `discard`: what went out is gone. Every write goes out at once, to a file too: a reader
/// may follow a file as it grows, and `apply - - > out.wav` should leave as much behind as `apply - - | cat`.
final class DescriptorDestination: WAVDestination {
    let path: String
    let canPatch: Bool
    var isLive: Bool { true }
    private let fd: Int32

    init(fileDescriptor: Int32, path: String) {
        fd = fileDescriptor
        self.path = path
        var info = stat()
        canPatch = fstat(fd, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG && lseek(fd, 0, SEEK_CUR) == 0
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        if let error = writeAll(bytes, to: fd) {
            throw WAVError.writeFailed(path: path, reason: String(cString: strerror(error)))
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer, atOffset offset: Int) throws {
        if let error = writeAll(bytes, to: fd, atOffset: offset) {
            throw WAVError.writeFailed(path: path, reason: String(cString: strerror(error)))
        }
    }

    func commit() throws {}
    func discard() {}
}
