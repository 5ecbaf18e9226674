import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum BatchReportError: Error, CustomStringConvertible, Equatable {
    case cannotOpen(path: String, reason: String)
    case writeFailed(path: String, reason: String)

    var description: String {
        switch self {
        case let .cannotOpen(path, reason): return "\(path): cannot open the report: \(reason)"
        case let .writeFailed(path, reason): return "\(path): cannot write to the report: \(reason)"
        }
    }
}

/// A machine-readable record of a batch, one JSON object per line (JSON Lines), one line per input:
///
///     {"input":"in/a.wav","output":"out/a.wav","status":"done","error":null,"duration_s":3.2,"seconds":0.041,
///      "clipped":0,"truncated":false,"input_format":"16-bit PCM","output_format":"16-bit PCM"}
///
/// `status` is "done", "skipped" or "failed"; `duration_s` is seconds of audio and `seconds` of wall-clock time
/// (both null unless done). The file is opened for appending and each line goes out in one write(2) as its
/// file finishes, so a killed run leaves whole lines, and a rerun adds to them: for a merged view of many runs
/// or shards, concatenate the files and keep the last line for each input.
public final class BatchReport: Sendable {
    public let url: URL
    private let handle: FileHandle

    public init(url: URL) throws {
        let fd = open(url.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o666)
        if fd < 0 {
            throw BatchReportError.cannotOpen(path: url.relativePath, reason: String(cString: strerror(errno)))
        }
        self.url = url
        handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
    }

    /// Appends the line for `item`.
    public func append(_ outcome: BatchOutcome, for item: BatchFile) throws {
        let bytes = Array((Self.line(outcome, for: item) + "\n").utf8)
        if let error = bytes.withUnsafeBytes({ writeAll($0, to: handle.fileDescriptor) }) {
            throw BatchReportError.writeFailed(path: url.relativePath, reason: String(cString: strerror(error)))
        }
    }

    /// The JSON object for one input, without a newline.
    public static func line(_ outcome: BatchOutcome, for item: BatchFile) -> String {
        var fields: [(String, String)] = [("input", string(item.input.relativePath)),
                                          ("output", string(item.output.relativePath))]
        switch outcome {
        case let .done(report):
            fields += [("status", string("done")), ("error", "null"),
                       ("duration_s", number(report.duration)), ("seconds", number(report.seconds)),
                       ("clipped", String(report.clippedSamples)), ("truncated", String(report.truncated)),
                       ("input_format", string("\(report.inputFormat.sampleFormat)")),
                       ("output_format", string("\(report.outputFormat.sampleFormat)"))]
        case .skipped:
            fields += [("status", string("skipped")), ("error", "null"), ("duration_s", "null"),
                       ("seconds", "null"), ("clipped", "null"), ("truncated", "null")]
        case let .failed(error):
            fields += [("status", string("failed")), ("error", string("\(error)")), ("duration_s", "null"),
                       ("seconds", "null"), ("clipped", "null"), ("truncated", "null")]
        }
        return "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }

    /// Microseconds are plenty, and %f never prints an exponent or a form JSON would reject.
    private static func number(_ value: Double) -> String {
        value.isFinite ? String(format: "%.6f", value) : "null"
    }

    /// A JSON string: quotes, backslashes and control characters escaped.
    static func string(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
