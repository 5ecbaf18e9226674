import Foundation
import Synchronization

/// Reports the progress of long work on stderr. Safe to call from several threads (batch jobs).
///
/// On a terminal, one line redrawn in place at most `redrawInterval` apart:
///
///     denoising [#######-----------------]  120/400 files  12.3 files/s  ETA 0:23
///
/// Elsewhere (a pipe, a log file), a plain line at most every `lineInterval` seconds, so logs stay short:
///
///     denoising: 120/400 files (30%), 12.3 files/s, ETA 0:23
///
/// `finish()` replaces both with one summary line: `denoising: 400 files in 0:32 (12.5 files/s)`.
/// The rate is the mean since the start; the ETA is what remains at that rate.
final class ProgressReporter: Sendable {
    enum Style: Sendable {
        case bar
        case lines
        case silent
    }

    let label: String
    /// What is counted, plural: `files`, `frames`, `epochs`.
    let unit: String
    let style: Style

    private let lineInterval: Double
    private let redrawInterval = 0.1
    private let barWidth = 24
    private let write: @Sendable (String) -> Void
    private let now: @Sendable () -> Double
    private let start: Double

    /// What changes as work is done, behind one lock: calls come from several threads.
    private struct Counts {
        /// Unknown totals show the count and rate without bar, percentage or ETA.
        var total: Int?
        var completed = 0
        var lastOutput: Double
        var isFinished = false
    }
    private let counts: Mutex<Counts>

    /// Unknown totals show the count and rate without bar, percentage or ETA.
    var total: Int? { counts.withLock { $0.total } }

    /// - Parameters:
    ///   - style: nil picks `.bar` when stderr is a terminal, `.lines` otherwise.
    ///   - write: where text goes (stderr by default; tests capture it).
    ///   - now: a monotonic clock in seconds (tests drive it by hand).
    init(label: String, total: Int?, unit: String, style: Style? = nil, lineInterval: Double = 5,
         write: @escaping @Sendable (String) -> Void = Terminal.writeError,
         now: @escaping @Sendable () -> Double = ProgressReporter.monotonicSeconds) {
        self.label = label
        self.unit = unit
        let style = style ?? (Terminal.stderrIsTerminal ? .bar : .lines)
        self.style = style
        self.lineInterval = lineInterval
        self.write = write
        self.now = now
        let start = now()
        self.start = start
        // A bar appears on the first step; a plain line only once a full interval has passed.
        counts = Mutex(Counts(total: total, lastOutput: style == .bar ? -Double.infinity : start))
    }

    static func monotonicSeconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// Sets the total once it is known (e.g. after the first step of an epoch).
    func setTotal(_ newTotal: Int) {
        counts.withLock { $0.total = newTotal }
    }

    func advance(by count: Int = 1) {
        counts.withLock { counts in
            counts.completed += count
            report(&counts)
        }
    }

    func update(completed newValue: Int) {
        counts.withLock { counts in
            counts.completed = newValue
            report(&counts)
        }
    }

    /// Prints the summary line; later calls to `advance`, `update` or `finish` print nothing.
    func finish() {
        counts.withLock { finish(&$0) }
    }

    private func finish(_ counts: inout Counts) {
        guard !counts.isFinished else { return }
        counts.isFinished = true
        let completed = counts.completed
        let elapsed = now() - start
        let noun = completed == 1 && unit.hasSuffix("s") ? String(unit.dropLast()) : unit
        var summary = "\(label): \(completed) \(noun) in \(Format.clock(seconds: elapsed))"
        if elapsed > 0 { summary += " (\(Format.rate(Double(completed) / elapsed)) \(unit)/s)" }
        switch style {
        case .bar: write("\r\u{1B}[K" + summary + "\n")
        case .lines: write(summary + "\n")
        case .silent: break
        }
    }

    /// Called with the lock held.
    private func report(_ counts: inout Counts) {
        guard !counts.isFinished, style != .silent else { return }
        let time = now()
        let interval = style == .bar ? redrawInterval : lineInterval
        guard time - counts.lastOutput >= interval else { return }
        counts.lastOutput = time
        let (completed, total) = (counts.completed, counts.total)
        let elapsed = time - start
        let rate = elapsed > 0 ? Double(completed) / elapsed : 0
        var parts: [String] = []
        if let total {
            parts.append("\(completed)/\(total) \(unit)")
        } else {
            parts.append("\(completed) \(unit)")
        }
        if rate > 0 { parts.append("\(Format.rate(rate)) \(unit)/s") }
        if let total, rate > 0 {
            parts.append("ETA " + Format.clock(seconds: Double(max(0, total - completed)) / rate))
        }
        switch style {
        case .bar:
            write("\r\(label)\(bar(completed: completed, total: total))  " + parts.joined(separator: "  ") + "\u{1B}[K")
        case .lines:
            if let total, total > 0 { parts[0] += " (\(min(100, 100 * completed / total))%)" }
            write("\(label): " + parts.joined(separator: ", ") + "\n")
        case .silent:
            break
        }
    }

    private func bar(completed: Int, total: Int?) -> String {
        guard let total else { return "" }
        // Leading space so that an unknown total leaves no gap after the label.
        let fraction = total > 0 ? min(1, Double(completed) / Double(total)) : 1
        let filled = Int((fraction * Double(barWidth)).rounded(.down))
        return " [" + String(repeating: "#", count: filled) + String(repeating: "-", count: barWidth - filled) + "]"
    }
}
