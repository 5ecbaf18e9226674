import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One file of a batch: where it comes from and where its output goes.
public struct BatchFile: Equatable, Sendable {
    public let input: URL
    public let output: URL
    /// The input's path relative to the folder it was found in (its name, for a file given directly): the same
    /// on every machine, so it decides the file's shard.
    public let key: String

    public init(input: URL, output: URL, key: String) {
        self.input = input
        self.output = output
        self.key = key
    }
}

/// How one file of a batch ended.
public enum BatchOutcome: Sendable {
    case done(FileReport)
    /// `skipExisting` and the output was already in place.
    case skipped
    case failed(Error)
}

enum BatchJobError: Error, CustomStringConvertible, Equatable {
    case missingInput(String)
    case noWAVFiles([String])
    case outputInsideInput(String)
    case duplicateOutput(String)
    case outputNotAFolder(String)
    case cannotCreateFolder(path: String, reason: String)

    var description: String {
        switch self {
        case let .missingInput(path): return "\(path): no such file or folder"
        case let .noWAVFiles(paths): return "no .wav files found in \(paths.joined(separator: ", "))"
        case let .outputInsideInput(path): return "\(path): the output folder is inside an input folder; choose another"
        case let .duplicateOutput(path):
            return "\(path): two inputs would be written here; rename one or use separate runs"
        case let .outputNotAFolder(path): return "\(path): exists and is not a folder; -o needs a folder"
        case let .cannotCreateFolder(path, reason): return "\(path): cannot create the output folder: \(reason)"
        }
    }
}

/// Denoising many files: the plan (which input goes where) and a parallel runner.
public enum BatchJob {
    /// Inputs are files or folders (walked recursively for `.wav` in any case). A folder's tree is
    /// mirrored under `outputDirectory` (under a subfolder of its name when there are several
    /// inputs); a file given directly lands at its top. `suffix` goes
    /// before the extension ("a.wav" with "-clean" → "a-clean.wav").
    public static func plan(inputs: [URL], outputDirectory: URL, suffix: String = "") throws -> [BatchFile] {
        var items: [BatchFile] = []
        var outputIsFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: outputDirectory.path, isDirectory: &outputIsFolder),
           !outputIsFolder.boolValue {
            throw BatchJobError.outputNotAFolder(outputDirectory.path)
        }
        let outRoot = outputDirectory.standardizedFileURL.resolvingSymlinksInPath().path
        for input in inputs {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: input.path, isDirectory: &isDirectory) else {
                throw BatchJobError.missingInput(input.path)
            }
            if isDirectory.boolValue {
                let root = input.standardizedFileURL.resolvingSymlinksInPath().path
                if (outRoot + "/").hasPrefix(root + "/") { throw BatchJobError.outputInsideInput(outputDirectory.path) }
                // One folder maps onto OUT_DIR itself; several keep their names apart.
                let base = inputs.count == 1 ? outputDirectory
                    : outputDirectory.appendingPathComponent(input.standardizedFileURL.lastPathComponent)
                for relative in try WAVFiles.relativePaths(under: input) {
                    items.append(BatchFile(input: input.appendingPathComponent(relative),
                                           output: base.appendingPathComponent(renamed(relative, suffix: suffix)),
                                           key: relative))
                }
            } else {
                items.append(BatchFile(input: input,
                                       output: outputDirectory.appendingPathComponent(
                                           renamed(input.lastPathComponent, suffix: suffix)),
                                       key: input.lastPathComponent))
            }
        }
        guard !items.isEmpty else { throw BatchJobError.noWAVFiles(inputs.map(\.path)) }
        var seen = Set<String>()
        for item in items where !seen.insert(item.output.standardizedFileURL.path).inserted {
            throw BatchJobError.duplicateOutput(item.output.path)
        }
        return items
    }

    /// Creates `folder` and its parents (mkdir -p) with errors that name the folder and the system's reason;
    /// Foundation's createDirectory reports only a generic Cocoa message on Linux. Workers may race to
    /// create the same folder: EEXIST is fine when what exists is a folder.
    private static func createFolder(_ folder: URL) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw BatchJobError.cannotCreateFolder(path: folder.path, reason: "a file of that name is in the way")
            }
            return
        }
        let parent = folder.deletingLastPathComponent()
        if parent.path != folder.path { try createFolder(parent) }
        if mkdir(folder.path, 0o777) != 0 {
            let code = errno
            if code == EEXIST { return try createFolder(folder) }
            throw BatchJobError.cannotCreateFolder(path: folder.path, reason: String(cString: strerror(code)))
        }
    }

    static func renamed(_ relative: String, suffix: String) -> String {
        guard !suffix.isEmpty else { return relative }
        let name = relative.split(separator: "/").last.map(String.init) ?? relative
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return relative + suffix }
        let cut = relative.index(relative.endIndex, offsetBy: -name.distance(from: dot, to: name.endIndex))
        return relative[..<cut] + suffix + relative[cut...]
    }

    /// Whether `output` is already complete: outputs appear only by a rename into place, so an existing regular
    /// file at the final name is a finished one (a leftover temporary file has another name).
    public static func isComplete(_ output: URL) -> Bool {
        var info = stat()
        return stat(output.path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }

    /// Processes `items` on `jobs` workers, each with its own copy of the model (networks keep
    /// per-call buffers) and one thread (`options.threads` is set to 1), so `jobs` workers use `jobs` cores and
    /// never oversubscribe.
    /// With `skipExisting`, an item whose output `isComplete` is skipped. `report` is called (serially) after
    /// each file with its outcome; returns the failures.
    public static func run(items: [BatchFile], model file: SafeTensors, modelPath: String, jobs: Int,
                           options: DenoiserOptions, force: Bool, skipExisting: Bool = false,
                           shouldStop: @escaping @Sendable () -> Bool,
                           report: @escaping @Sendable (BatchOutcome, BatchFile) -> Void)
        throws -> [(BatchFile, Error)] {
        let workers = max(1, min(jobs, items.count))
        // The first copy checks the file; the others are built by their workers, at the same time. Worker 0
        // takes this one out of its box.
        let firstModel = Mutex<DenoiseModel?>(try DenoiseModel(safeTensors: file, path: modelPath))
        // Each worker is one core: -j N uses N cores, never more.
        var oneThread = options
        oneThread.threads = 1
        let workerOptions = oneThread
        let progress = BatchProgress()
        let finished = { @Sendable (outcome: BatchOutcome, item: BatchFile) in
            progress.state.withLock { state in
                if case .failed(let error) = outcome { state.failures.append((item, error)) }
                report(outcome, item)
            }
        }
        // Outputs are flushed to disk and renamed into place on one more thread, so that a worker goes on to its
        // next file instead of waiting for the disk (with two workers, the flushes took 6% of each one's time).
        let commits = DispatchQueue(label: "denoise.batch-commits")
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            // The file already loaded once, so a copy cannot fail; if one did, the other workers take its files.
            let model = worker == 0 ? firstModel.withLock { $0.take() }
                : try? DenoiseModel(safeTensors: file, path: modelPath)
            guard let model else { return }
            while true {
                let index = progress.state.withLock { state in
                    defer { state.next += 1 }
                    return state.next
                }
                guard index < items.count, !shouldStop() else { return }
                let item = items[index]
                if skipExisting && isComplete(item.output) {
                    finished(.skipped, item)
                    continue
                }
                let result = Result {
                    try createFolder(item.output.deletingLastPathComponent())
                    return try FileEnhancer.enhanceUncommitted(input: item.input, output: item.output, model: model,
                                                               options: workerOptions, force: force,
                                                               shouldStop: shouldStop)
                }
                switch result {
                case let .success((fileReport, writer)):
                    // Handed over: this worker never touches the writer again, and the commit queue is its only
                    // user from here on.
                    nonisolated(unsafe) let writer = writer
                    commits.async {
                        do {
                            try writer.commit()
                            finished(.done(fileReport), item)
                        } catch {
                            finished(.failed(error), item)
                        }
                    }
                case let .failure(error):
                    finished(.failed(error), item)
                }
            }
        }
        commits.sync {}
        let failures = progress.state.withLock { $0.failures }
        return failures.sorted { $0.0.input.path < $1.0.input.path }
    }
}

/// What a batch's workers share, behind one lock: the index of the next item to take and the failures so far.
private final class BatchProgress: Sendable {
    let state = Mutex<(next: Int, failures: [(BatchFile, Error)])>((0, []))
}
