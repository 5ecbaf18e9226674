import Synchronization
import XCTest
@testable import denoise

/// Ctrl-C handling, with real SIGINTs sent to the test process (the monitor has switched SIGINT's default
/// action off, so they cannot end it) and the final exit replaced by a recorder.
final class InterruptTests: XCTestCase {
    private final class ExitRecorder: Sendable {
        private let statuses = Mutex<[Int32]>([])
        func record(_ status: Int32) {
            statuses.withLock { $0.append(status) }
        }
        var recorded: [Int32] {
            statuses.withLock { $0 }
        }
    }

    private func waitUntil(_ condition: () -> Bool) {
        let deadline = Date().addingTimeInterval(5)
        while !condition() && Date() < deadline { usleep(1000) }
    }

    func testFirstInterruptSetsTheFlagAndSecondExitsWith130() {
        let recorder = ExitRecorder()
        let monitor = InterruptMonitor(exitNow: recorder.record)
        monitor.install(notice: "stopping (test)")
        defer { monitor.uninstall() }
        XCTAssertFalse(monitor.isRequested)

        raise(SIGINT)
        waitUntil { monitor.isRequested }
        XCTAssertTrue(monitor.isRequested)
        XCTAssertEqual(recorder.recorded, [], "one Ctrl-C must not end the process")

        raise(SIGINT)
        waitUntil { !recorder.recorded.isEmpty }
        XCTAssertEqual(recorder.recorded, [130])
    }

    func testUninstallForgetsEarlierInterrupts() {
        let monitor = InterruptMonitor(exitNow: { _ in })
        monitor.install(notice: "stopping (test)")
        raise(SIGINT)
        waitUntil { monitor.isRequested }
        XCTAssertTrue(monitor.isRequested)
        monitor.uninstall()
        XCTAssertFalse(monitor.isRequested)
    }

    func testTerminateAndHangUpStopLikeCtrlCAndSetTheExitStatus() {
        for (number, status) in [(SIGTERM, Int32(143)), (SIGHUP, 129)] {
            let recorder = ExitRecorder()
            let monitor = InterruptMonitor(exitNow: recorder.record)
            monitor.install(notice: "stopping (test)")
            raise(number)
            waitUntil { monitor.isRequested }
            XCTAssertTrue(monitor.isRequested, "signal \(number)")
            XCTAssertEqual(monitor.exitStatus, status)
            XCTAssertEqual(recorder.recorded, [], "one signal must not end the process")
            raise(SIGINT)
            waitUntil { !recorder.recorded.isEmpty }
            XCTAssertEqual(recorder.recorded, [status], "a second signal exits with the first one's status")
            monitor.uninstall()
        }
    }

    func testBrokenPipeStopsButRepeatedBrokenPipesNeverExitAtOnce() {
        let recorder = ExitRecorder()
        let monitor = InterruptMonitor(exitNow: recorder.record)
        monitor.install(notice: "stopping (test)")
        defer { monitor.uninstall() }
        raise(SIGPIPE)
        waitUntil { monitor.isRequested }
        XCTAssertEqual(monitor.exitStatus, 141)
        // Every write to a closed pipe raises SIGPIPE again: those must not count as a second Ctrl-C.
        for _ in 0..<3 { raise(SIGPIPE) }
        usleep(50_000)
        XCTAssertEqual(recorder.recorded, [])
    }
}
