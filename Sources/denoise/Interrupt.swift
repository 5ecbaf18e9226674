import Dispatch
import Foundation

/// Ctrl-C for long commands. After `install`, the first SIGINT only sets `isRequested`, which the running
/// command polls to stop at a safe point (finish the current file, save a checkpoint) and then return
/// `ExitStatus.interrupted`; a second SIGINT exits at once with status 130.
///
/// Short commands never install it, so for them SIGINT keeps its default action and ends the process.
///
/// How: a C signal handler writes one byte per SIGINT into a pipe, and a dispatch read source on the pipe
/// does the rest on an ordinary queue. (`DispatchSource.makeSignalSource` is not used: on Linux it registers
/// its own process-wide handler asynchronously and only once per process, so a signal right after `install`
/// can be lost and SIGINT cannot be handed back to its default action.)
final class InterruptMonitor {
    static let shared = InterruptMonitor()

    private let lock = NSLock()
    private let queue = DispatchQueue(label: "denoise.interrupt")
    private var source: DispatchSourceRead?
    private var count = 0
    private var notice = ""
    private let exitNow: (Int32) -> Void

    /// - Parameter exitNow: how a second Ctrl-C ends the process (tests replace it).
    init(exitNow: @escaping (Int32) -> Void = { status in
        fflush(stdout)
        _exit(status)
    }) {
        self.exitNow = exitNow
    }

    /// Whether Ctrl-C has been pressed since `install`.
    var isRequested: Bool {
        lock.lock()
        defer { lock.unlock() }
        return count > 0
    }

    /// Starts catching SIGINT. `notice` is printed on stderr at the first Ctrl-C, e.g.
    /// "stopping after this epoch (Ctrl-C again to quit now)". One monitor at a time per process.
    func install(notice: String) {
        lock.lock()
        defer { lock.unlock() }
        self.notice = notice
        count = 0
        guard source == nil else { return }
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
        self.source = source
        interruptPipeWriteEnd = writeEnd
        signal(SIGINT, interruptSignalHandler)
    }

    /// Restores the default action of SIGINT and forgets earlier presses.
    func uninstall() {
        lock.lock()
        defer { lock.unlock() }
        signal(SIGINT, SIG_DFL)
        interruptPipeWriteEnd = -1
        source?.cancel()
        source = nil
        count = 0
    }

    /// Counts the bytes the handler wrote, one per SIGINT.
    private func drain(_ readEnd: Int32) {
        var buffer = [UInt8](repeating: 0, count: 64)
        var signals = 0
        while true {
            let got = read(readEnd, &buffer, buffer.count)
            if got <= 0 { break }
            signals += got
        }
        guard signals > 0 else { return }
        lock.lock()
        let before = count
        count += signals
        let after = count
        let notice = self.notice
        lock.unlock()
        if before == 0 { Terminal.writeError("\n\(notice)\n") }
        if after >= 2 {
            Terminal.writeError("interrupted\n")
            exitNow(ExitStatus.interrupted)
        }
    }
}

/// The pipe the signal handler writes to; a global because a C handler can capture nothing. Set before
/// the handler is installed and reset after it is removed.
private var interruptPipeWriteEnd: Int32 = -1

/// Async-signal-safe: one `write(2)` of one byte.
private let interruptSignalHandler: @convention(c) (Int32) -> Void = { _ in
    var byte: UInt8 = 1
    _ = write(interruptPipeWriteEnd, &byte, 1)
}
