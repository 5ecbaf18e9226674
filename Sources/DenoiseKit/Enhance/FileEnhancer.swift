import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum EnhanceError: Error, CustomStringConvertible, Equatable {
    case outputExists(String)
    case outputIsInput(String)
    case notAFile(String)
    case interrupted(String)
    case notRegularFile(String)
    /// The output path is a folder, FIFO, device or socket: not something to replace with a WAV file, even
    /// with --force.
    case outputNotRegularFile(path: String, kind: String)

    public var description: String {
        switch self {
        case let .outputExists(path): return "\(path): already exists (use --force to replace it)"
        case let .outputIsInput(path): return "\(path): is an input file; refusing to overwrite an input"
        case let .notAFile(path): return "\(path): no such file"
        case let .interrupted(path): return "\(path): interrupted; no output written"
        case let .notRegularFile(path): return "\(path): is a pipe or device, not a WAV file"
        case let .outputNotRegularFile(path, kind):
            return "\(path): is \(kind); only a regular file may be replaced by an output"
        }
    }
}

/// What happened to one file.
public struct FileReport: Sendable {
    public let input: URL
    public let output: URL
    /// Seconds of audio processed.
    public let duration: Double
    /// Seconds of wall-clock time spent.
    public let seconds: Double
    /// Output samples clamped to [-1, 1] before integer conversion.
    public let clippedSamples: Int
    /// The input's format, and the output's: the same unless the input's cannot be written (G.711 → 16-bit PCM).
    public let inputFormat: WAVFormat
    public let outputFormat: WAVFormat
    /// What was wrong with the input but did not stop it (e.g. a data chunk cut short).
    public let warnings: [WAVWarning]
    /// Whether the input's data chunk was cut short (fewer frames than its header claimed).
    public var truncated: Bool { warnings.contains { if case .dataCutShort = $0 { true } else { false } } }
    public var realTimeFactor: Double { duration > 0 ? seconds / duration : 0 }
}

/// Denoises one WAV file to another, streaming: reads, processes and writes in blocks, so memory
/// does not grow with the file. The output keeps the input's rate, channels and sample format, is
/// written to a temporary file and renamed into place only when complete.
public enum FileEnhancer {
    /// Frames read per block (about 1 s at 48 kHz).
    static let blockFrames = 1 << 16

    /// Receives the speech probabilities of the frames denoised so far, as they come, and the seconds between
    /// frames (`Denoiser.takeSpeechProbabilities()`).
    public typealias SpeechProbabilitySink = (_ probabilities: [Float], _ frameSeconds: Double) -> Void

    public static func enhance(input: URL, output: URL, model: DenoiseModel, options: DenoiserOptions = .init(),
                               force: Bool = false, shouldStop: () -> Bool = { false },
                               speechProbability: SpeechProbabilitySink? = nil) throws -> FileReport {
        let (report, writer) = try enhanceUncommitted(input: input, output: output, model: model, options: options,
                                                      force: force, shouldStop: shouldStop,
                                                      speechProbability: speechProbability)
        try writer.commit()
        return report
    }

    /// `enhance` up to the output's commit: the output is complete in its temporary file, and `commit()` on the
    /// returned writer puts it in place (or `cancel()` drops it).
    static func enhanceUncommitted(input: URL, output: URL, model: DenoiseModel, options: DenoiserOptions,
                                   force: Bool, shouldStop: () -> Bool,
                                   speechProbability: SpeechProbabilitySink? = nil) throws -> (FileReport, WAVWriter) {
        let started = Date()
        try checkOutput(output, input: input, force: force)
        if isPipeOrDevice(input) { throw EnhanceError.notRegularFile(input.path) }
        let reader = try WAVReader(url: input)
        let writer = try WAVWriter(url: output, format: reader.format, expectedFrames: reader.frameCount)
        let report = try pump(reader, into: writer, model: model, options: options, started: started,
                              shouldStop: shouldStop, speechProbability: speechProbability)
        return (report, writer)
    }

    /// Denoises what `reader` reads into `writer`, and finishes the writer. For pipes (`WAVReader(fileDescriptor:)`,
    /// `WAVWriter(fileDescriptor:)`): output is written as input arrives, one block of whatever has come at a time.
    public static func enhance(reader: WAVReader, writer: WAVWriter, model: DenoiseModel,
                               options: DenoiserOptions = .init(), shouldStop: () -> Bool = { false },
                               speechProbability: SpeechProbabilitySink? = nil) throws -> FileReport {
        let report = try pump(reader, into: writer, model: model, options: options, started: Date(),
                              shouldStop: shouldStop, speechProbability: speechProbability)
        try writer.commit()
        return report
    }

    /// Reads, denoises and writes block by block, up to the writer's `finishWriting`; cancels the writer on failure.
    private static func pump(_ reader: WAVReader, into writer: WAVWriter, model: DenoiseModel,
                             options: DenoiserOptions, started: Date, shouldStop: () -> Bool,
                             speechProbability: SpeechProbabilitySink?) throws -> FileReport {
        let format = reader.format
        var options = options
        if speechProbability != nil { options.recordsSpeechProbability = true }
        let denoiser = Denoiser(model: model, channelCount: format.channelCount, sampleRate: format.sampleRate,
                                options: options)
        func passSpeechProbabilities() {
            speechProbability?(denoiser.takeSpeechProbabilities(), denoiser.frameSeconds)
        }
        do {
            while let block = try reader.read(maxFrames: blockFrames) {
                if shouldStop() { throw EnhanceError.interrupted(reader.url.relativePath) }
                try writer.write(denoiser.process(block))
                passSpeechProbabilities()
            }
            try writer.write(denoiser.finish())
            passSpeechProbabilities()
            try writer.finishWriting()
        } catch {
            writer.cancel()
            throw error
        }
        return FileReport(input: reader.url, output: writer.url,
                          duration: Double(reader.framesRead) / Double(format.sampleRate),
                          seconds: Date().timeIntervalSince(started), clippedSamples: writer.clippedSamples,
                          inputFormat: format, outputFormat: writer.format, warnings: reader.warnings)
    }

    /// Refuses an output that is the input, is not a regular file (a folder, FIFO or device: never replaced), or
    /// exists when `force` is off.
    public static func checkOutput(_ output: URL, input: URL?, force: Bool) throws {
        if let input, sameFile(input, output) { throw EnhanceError.outputIsInput(output.path) }
        if let kind = nonRegularKind(output) { throw EnhanceError.outputNotRegularFile(path: output.path, kind: kind) }
        if FileManager.default.fileExists(atPath: output.path) && !force {
            throw EnhanceError.outputExists(output.path)
        }
    }

    /// A FIFO would block `open` until some other process writes to it, and could not be read with
    /// pread anyway; a device is never a WAV file. Folders are left to the reader, which names them.
    static func isPipeOrDevice(_ url: URL) -> Bool {
        var info = stat()
        guard stat(url.path, &info) == 0 else { return false }
        let type = info.st_mode & S_IFMT
        return type == S_IFIFO || type == S_IFCHR || type == S_IFBLK || type == S_IFSOCK
    }

    /// What the path is when it exists as something other than a regular file (or a link, which a rename
    /// replaces without touching what it points to); nil otherwise.
    static func nonRegularKind(_ url: URL) -> String? {
        var info = stat()
        guard lstat(url.path, &info) == 0 else { return nil }
        switch info.st_mode & S_IFMT {
        case S_IFDIR: return "a folder"
        case S_IFIFO: return "a named pipe (FIFO)"
        case S_IFCHR, S_IFBLK: return "a device"
        case S_IFSOCK: return "a socket"
        default: return nil
        }
    }

    /// True when both paths name the same existing file (through links or different spellings).
    static func sameFile(_ a: URL, _ b: URL) -> Bool {
        let pa = a.standardizedFileURL.resolvingSymlinksInPath().path
        let pb = b.standardizedFileURL.resolvingSymlinksInPath().path
        if pa == pb { return true }
        guard let ia = try? FileManager.default.attributesOfItem(atPath: pa),
              let ib = try? FileManager.default.attributesOfItem(atPath: pb) else { return false }
        return (ia[.systemFileNumber] as? Int) == (ib[.systemFileNumber] as? Int)
            && (ia[.systemNumber] as? Int) == (ib[.systemNumber] as? Int)
    }
}
