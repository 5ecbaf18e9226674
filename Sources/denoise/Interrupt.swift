import DenoiseKit
import Dispatch
import Foundation
import Synchronization

/// Ctrl-C, and the other ways a long command is asked to stop, for long commands. After `install`, the first
/// SIGINT, SIGTERM (`kill`, `timeout`, a scheduler's preemption) or SIGHUP (a closed terminal) only sets
/// `isRequested`, which the running command polls to stop at a safe point (finish the current file, save a
/// checkpoint, discard partial outputs) and then return `exitStatus` (128 + the signal, as shells report it);
/// a second one exits at once, after removing the temporary files of unfinished outputs. SIGPIPE (stdout or
/// stderr read by a process that went away) also requests a stop, but never exits at once: every later write to
/// the closed pipe raises it again.
///
/// Short commands never install it, so for them the signals keep their default action and end the process.
///
/// How: a C signal handler writes the signal's number as one byte into a pipe, and a dispatch read source on the pipe
/// does the rest on an ordinary queue. (`DispatchSource.makeSignalSource` is not used: on Linux it registers
/// its own process-wide handler asynchronously and only once per process, so a signal right after `install`
/// can be lost and SIGINT cannot be handed back to its default action.)
final class InterruptMonitor: Sendable {
    static let shared = InterruptMonitor()

    private let queue = DispatchQueue(label: "denoise.interrupt")
    /// Everything `install`, `uninstall` and the drain change, behind one lock.
    private struct State {
        var source: DispatchSourceRead?
        var count = 0
        /// The first signal since `install`; 0 for none.
        var firstSignal: Int32 = 0
        var notice = ""
    }
    private let state = Mutex(State())
    private let exitNow: @Sendable (Int32) -> Void

    /// - Parameter exitNow: how a second Ctrl-C ends the process (tests replace it).
    init(exitNow: @escaping @Sendable (Int32) -> Void = { status in
        AtomicFile.removeUnfinishedTemporaryFiles()
        fflush(nil)  // every output stream, stdout among them
        _exit(status)
    }) {
        self.exitNow = exitNow
    }

    /// Whether Ctrl-C has been pressed (or another stop signal received) since `install`.
    var isRequested: Bool {
        state.withLock { $0.firstSignal != 0 }
    }

    /// 128 + the first signal received (130 for Ctrl-C, 143 for SIGTERM); 130 when none was.
    var exitStatus: Int32 {
        state.withLock { $0.firstSignal == 0 ? ExitStatus.interrupted : 128 + $0.firstSignal }
    }

    /// The signals that ask a long command to stop.
    static let signals = [SIGINT, SIGTERM, SIGHUP, SIGPIPE]

    /// Starts catching SIGINT. `notice` is printed on stderr at the first Ctrl-C, e.g.
    /// "stopping after this epoch (Ctrl-C again to quit now)". One monitor at a time per process.
    func install(notice: String) {
        state.withLock { install(notice: notice, &$0) }
    }

    private func install(notice: String, _ state: inout State) {
        state.notice = notice
        state.count = 0
        state.firstSignal = 0
        guard state.source == nil else { return }
        var ends: [Int32] = [-1, -1]
        // Without a pipe, Ctrl-C simply keeps its default action.
        guard pipe(&ends) == 0 else { return }
        let (readEnd, writeEnd) = (ends[0], ends[1])
        for end in [readEnd, writeEnd] {
            // Non-blocking: the handler must never wait on a full pipe, and a drain stops when it is empty.
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
        }
        let source = DispatchSource.makeReadSource(fileDescriptor: readEnd, queue: queue)
        source.setEventHandler { [weak self] in self?.drain(readEnd) }
        source.setCancelHandler {
            close(readEnd)
            close(writeEnd)
        }
        source.resume()
        state.source = source
        interruptPipeWriteEnd.store(writeEnd, ordering: .sequentiallyConsistent)
        for number in Self.signals { signal(number, interruptSignalHandler) }
    }

    /// Restores the default action of the signals and forgets earlier ones.
    func uninstall() {
        state.withLock { state in
            for number in Self.signals { signal(number, SIG_DFL) }
            interruptPipeWriteEnd.store(-1, ordering: .sequentiallyConsistent)
            state.source?.cancel()
            state = State()
        }
    }

    /// Reads the bytes the handler wrote, one signal number each, and counts the signals that may end the
    /// process at once (all but SIGPIPE).
    private func drain(_ readEnd: Int32) {
        var buffer = [UInt8](repeating: 0, count: 64)
        var received: [Int32] = []
        while true {
            let got = read(readEnd, &buffer, buffer.count)
            if got <= 0 { break }
            received += buffer[0..<got].map { Int32($0) }
        }
        guard let first = received.first else { return }
        let (wasRequested, after, status, notice) = state.withLock { state in
            let wasRequested = state.firstSignal != 0
            if !wasRequested { state.firstSignal = first }
            state.count += received.filter { $0 != SIGPIPE }.count
            return (wasRequested, state.count, 128 + state.firstSignal, state.notice)
        }
        // After a SIGPIPE, stderr may be the closed pipe: say nothing.
        if !wasRequested && first != SIGPIPE { Terminal.writeError("\n\(notice)\n") }
        if after >= 2 {
            Terminal.writeError("interrupted\n")
            exitNow(status)
        }
    }
}

/// The pipe the signal handler writes to; a global because a C handler can capture nothing. Set before
/// the handler is installed and reset after it is removed. Atomic, so the handler may read it on any thread
/// (a lock-free load is async-signal-safe).
private let interruptPipeWriteEnd = Atomic<Int32>(-1)

/// Async-signal-safe: one `write(2)` of one byte, the signal's number.
private let interruptSignalHandler: @convention(c) (Int32) -> Void = { number in
    var byte = UInt8(truncatingIfNeeded: number)
    _ = write(interruptPipeWriteEnd.load(ordering: .sequentiallyConsistent), &byte, 1)
}
