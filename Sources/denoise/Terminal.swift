import Foundation

/// Where the CLI writes: results to stdout, diagnostics and progress to stderr.
enum Terminal {
    /// Whether stderr is a terminal, where progress can redraw one line.
    static var stderrIsTerminal: Bool { isatty(STDERR_FILENO) == 1 }

    /// Through `print`, so that it stays in order with other `print`s (stdout is buffered, stderr is not).
    static func writeOut(_ text: String) {
        print(text, terminator: "")
    }

    /// With write(2), whose failure (EPIPE once stderr's reader has gone) is ignored, rather than FileHandle,
    /// which treats it as fatal and would end the process before it cleans up.
    static func writeError(_ text: String) {
        let bytes = Array(text.utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes[done...].withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            done += n
        }
    }

    /// `error: <message>` on one line: a multi-line message is joined so each failure stays one line
    /// (scripts and logs grep for it).
    static func reportError(_ message: String) {
        let oneLine = message.split(whereSeparator: \.isNewline).joined(separator: "; ")
        writeError("error: \(oneLine)\n")
    }
}

/// Number and time formatting shared by the commands and the progress reporter.
enum Format {
    /// `h:mm:ss.mmm`, rounded to the millisecond: 1.5 s is `0:00:01.500`.
    static func timestamp(seconds: Double) -> String {
        let milliseconds = Int((seconds * 1000).rounded())
        let (hours, rest) = milliseconds.quotientAndRemainder(dividingBy: 3_600_000)
        let (minutes, rest2) = rest.quotientAndRemainder(dividingBy: 60_000)
        let (secs, millis) = rest2.quotientAndRemainder(dividingBy: 1000)
        return "\(hours):\(pad(minutes, 2)):\(pad(secs, 2)).\(pad(millis, 3))"
    }

    /// A coarse clock for elapsed times and ETAs: `0:42`, `12:05`, `1:02:03`.
    /// "12 min 5 s" style length of `samples` at `rate`.
    static func duration(samples: Int, rate: Int) -> String {
        let seconds = Double(samples) / Double(rate)
        return seconds < 60 ? String(format: "%.1f s", seconds)
            : String(format: "%d min %d s", Int(seconds) / 60, Int(seconds) % 60)
    }

    static func clock(seconds: Double) -> String {
        let total = Int(max(0, seconds).rounded())
        let (hours, rest) = total.quotientAndRemainder(dividingBy: 3600)
        let (minutes, secs) = rest.quotientAndRemainder(dividingBy: 60)
        return hours > 0 ? "\(hours):\(pad(minutes, 2)):\(pad(secs, 2))" : "\(minutes):\(pad(secs, 2))"
    }

    /// A library default as help shows it: `0.5`, `-5`, `1e-05` (shortest round-trip form, no trailing `.0`).
    static func number(_ value: Float) -> String {
        value == value.rounded() && abs(value) < 1e6 ? String(Int(value)) : "\(value)"
    }

    /// A level in dB with two decimals, `-inf` for silence.
    static func decibels(_ value: Double) -> String {
        value.isFinite ? String(format: "%.2f", value) : (value < 0 ? "-inf" : "inf")
    }

    /// A rate with about three significant digits: `0.123`, `12.3`, `1234`.
    static func rate(_ value: Double) -> String {
        switch abs(value) {
        case 100...: return String(format: "%.0f", value)
        case 10...: return String(format: "%.1f", value)
        default: return String(format: "%.2f", value)
        }
    }

    /// Byte counts in binary units: `512 B`, `1.5 KiB`, `3.2 MiB`.
    static func bytes(_ count: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(count)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(count) B" : String(format: "%.1f", value) + " " + units[unit]
    }

    private static func pad(_ value: Int, _ digits: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }
}
