import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What went wrong creating, writing or committing an `AtomicFile`; every case names the destination path.
enum AtomicFileError: Error, CustomStringConvertible, Equatable {
    /// The destination's folder does not exist.
    case folderMissing(path: String, folder: String)
    /// The temporary file could not be created (read-only folder, no permission, ...).
    case cannotCreate(path: String, folder: String, reason: String)
    case writeFailed(path: String, reason: String)
    /// Flushing or renaming the temporary file over the destination failed.
    case commitFailed(path: String, reason: String)
    /// `write` or `commit` after `commit` or `discard`.
    case closed(path: String)

    var path: String {
        switch self {
        case .folderMissing(let path, _), .cannotCreate(let path, _, _), .writeFailed(let path, _),
             .commitFailed(let path, _), .closed(let path):
            return path
        }
    }

    var description: String {
        switch self {
        case .folderMissing(let path, let folder):
            return "\(path): cannot write, folder \(folder) does not exist"
        case .cannotCreate(let path, let folder, let reason):
            return "\(path): cannot create a file in folder \(folder): \(reason)"
        case .writeFailed(let path, let reason):
            return "\(path): write failed: \(reason)"
        case .commitFailed(let path, let reason):
            return "\(path): could not move the finished file into place: \(reason)"
        case .closed(let path):
            return "\(path): file is already committed or discarded"
        }
    }
}

/// A file that appears at its destination complete or not at all.
///
/// Bytes go to a uniquely named hidden file in the destination's folder (".name.1a2b3c4d.tmp"); `commit()`
/// flushes it to disk and renames it over the destination with rename(2), which is atomic within one file
/// system, so readers (and a crash) see either the old file or the whole new one. `discard()`, or dropping an
/// uncommitted `AtomicFile`, removes the temporary file.
public final class AtomicFile {
    public let destination: URL
    let temporaryURL: URL
    /// The open temporary file. Valid until `commit()` or `discard()`.
    let handle: FileHandle
    private var isOpen = true

    /// Temporary files not yet committed or discarded, so that a process ended abruptly (a second Ctrl-C)
    /// can still remove them on its way out.
    private static let unfinished = UnfinishedFiles()

    /// Removes every temporary file this process has open; for a process about to exit without unwinding.
    public static func removeUnfinishedTemporaryFiles() {
        for path in unfinished.removeAll() { unlink(path) }
    }

    public init(destination: URL) throws {
        self.destination = destination
        let path = destination.relativePath
        let folder = destination.deletingLastPathComponent()
        let name = Self.shortened(destination.lastPathComponent)
        var generator = SystemRandomNumberGenerator()
        // O_EXCL makes the name ours; a clash (1 in 2^32 per try) just draws another name.
        for _ in 0..<16 {
            let suffix = String(generator.next() as UInt32, radix: 16)
            let candidate = folder.appendingPathComponent(".\(name).\(suffix).tmp")
            // 0o666 minus the umask: the finished file gets the same permissions as any newly created file.
            let fd = open(candidate.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
            if fd >= 0 {
                temporaryURL = candidate
                handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
                Self.unfinished.insert(candidate.path)
                return
            }
            let code = errno
            if code == EEXIST { continue }
            let folderPath = folder.relativePath
            if code == ENOENT { throw AtomicFileError.folderMissing(path: path, folder: folderPath) }
            if code == ENOTDIR {
                throw AtomicFileError.cannotCreate(path: path, folder: folderPath, reason: "not a folder")
            }
            throw AtomicFileError.cannotCreate(path: path, folder: folderPath, reason: Self.message(code))
        }
        throw AtomicFileError.cannotCreate(path: path, folder: folder.relativePath,
                                           reason: "could not find an unused temporary file name")
    }

    deinit { discard() }

    /// Appends `bytes` at the current end of the temporary file.
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard isOpen else { throw AtomicFileError.closed(path: destination.relativePath) }
        if let error = writeAll(bytes, to: handle.fileDescriptor) {
            throw AtomicFileError.writeFailed(path: destination.relativePath, reason: Self.message(error))
        }
    }

    /// Appends `data` at the current end of the temporary file.
    public func write(_ data: Data) throws {
        try data.withUnsafeBytes { try write($0) }
    }

    /// Overwrites bytes at `offset` (e.g. to patch a header once sizes are known) without moving the end.
    func write(_ bytes: UnsafeRawBufferPointer, atOffset offset: Int) throws {
        guard isOpen else { throw AtomicFileError.closed(path: destination.relativePath) }
        if let error = writeAll(bytes, to: handle.fileDescriptor, atOffset: offset) {
            throw AtomicFileError.writeFailed(path: destination.relativePath, reason: Self.message(error))
        }
    }

    /// Flushes the temporary file to disk and renames it over the destination. On failure the temporary
    /// file is removed and the destination is left as it was.
    public func commit() throws {
        let path = destination.relativePath
        guard isOpen else { throw AtomicFileError.closed(path: path) }
        // fsync before rename: otherwise a crash could leave the new name pointing at unwritten blocks.
        if fsync(handle.fileDescriptor) != 0 {
            let reason = Self.message(errno)
            discard()
            throw AtomicFileError.commitFailed(path: path, reason: reason)
        }
        try? handle.close()
        isOpen = false
        defer { Self.unfinished.remove(temporaryURL.path) }
        if rename(temporaryURL.path, destination.path) != 0 {
            let reason = Self.message(errno)
            unlink(temporaryURL.path)
            throw AtomicFileError.commitFailed(path: path, reason: reason)
        }
    }

    /// Closes and removes the temporary file; the destination is untouched. Safe to call more than once.
    public func discard() {
        guard isOpen else { return }
        isOpen = false
        try? handle.close()
        unlink(temporaryURL.path)
        Self.unfinished.remove(temporaryURL.path)
    }

    /// Writes `data` to `url` atomically.
    public static func write(_ data: Data, to url: URL) throws {
        let file = try AtomicFile(destination: url)
        do {
            try file.write(data)
            try file.commit()
        } catch {
            file.discard()
            throw error
        }
    }

    private static func message(_ code: Int32) -> String { String(cString: strerror(code)) }

    /// Keeps the temporary name within NAME_MAX (255 bytes) however long the destination's name is.
    private static func shortened(_ name: String) -> String {
        var result = ""
        for character in name {
            if result.utf8.count + String(character).utf8.count > 200 { break }
            result.append(character)
        }
        return result
    }
}

/// The paths of open temporary files, shared by all threads.
private final class UnfinishedFiles: Sendable {
    private let paths = Mutex(Set<String>())

    func insert(_ path: String) {
        _ = paths.withLock { $0.insert(path) }
    }

    func remove(_ path: String) {
        _ = paths.withLock { $0.remove(path) }
    }

    func removeAll() -> Set<String> {
        paths.withLock { paths in
            defer { paths = [] }
            return paths
        }
    }
}
