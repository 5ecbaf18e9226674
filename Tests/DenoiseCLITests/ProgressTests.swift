import Synchronization
import XCTest
@testable import denoise

/// The progress reporter, driven by a hand-set clock and captured output.
final class ProgressTests: XCTestCase {
    /// The clock and the output; the reporter calls in from its lock, the test from its own thread.
    private final class Capture: Sendable {
        private let state = Mutex<(time: Double, writes: [String])>((0, []))
        var time: Double {
            get { state.withLock { $0.time } }
            set { state.withLock { $0.time = newValue } }
        }
        var writes: [String] { state.withLock { $0.writes } }
        func write(_ text: String) { state.withLock { $0.writes.append(text) } }
    }

    private func reporter(_ style: ProgressReporter.Style, total: Int?, _ capture: Capture) -> ProgressReporter {
        ProgressReporter(label: "denoising", total: total, unit: "files", style: style, lineInterval: 5,
                         write: { capture.write($0) }, now: { capture.time })
    }

    func testPlainLinesAppearAtMostOncePerIntervalWithRateAndETA() {
        let capture = Capture()
        let progress = reporter(.lines, total: 40, capture)
        for second in 1...12 {
            capture.time = Double(second)
            progress.advance(by: 2)   // 2 files/s
        }
        // Lines at t = 5 and t = 10 only.
        XCTAssertEqual(capture.writes, [
            "denoising: 10/40 files (25%), 2.00 files/s, ETA 0:15\n",
            "denoising: 20/40 files (50%), 2.00 files/s, ETA 0:10\n",
        ])
    }

    func testBarRedrawsInPlaceAtMostTenTimesASecond() {
        let capture = Capture()
        let progress = reporter(.bar, total: 4, capture)
        capture.time = 1
        progress.advance()
        capture.time = 1.05
        progress.advance()   // too soon: no redraw
        capture.time = 2
        progress.advance()
        XCTAssertEqual(capture.writes.count, 2)
        XCTAssertTrue(capture.writes.allSatisfy { $0.hasPrefix("\r") && !$0.contains("\n") }, "\(capture.writes)")
        // 3 of 4 after 2 s: 1.5 files/s, one left: ETA 0:01; 18 of 24 bar cells filled.
        XCTAssertEqual(capture.writes[1],
                       "\rdenoising [" + String(repeating: "#", count: 18) + String(repeating: "-", count: 6)
                       + "]  3/4 files  1.50 files/s  ETA 0:01\u{1B}[K")
    }

    func testFinishPrintsOneSummaryAndSilencesLaterCalls() {
        let capture = Capture()
        let progress = reporter(.lines, total: nil, capture)
        capture.time = 20
        progress.update(completed: 40)
        progress.finish()
        progress.finish()
        capture.time = 40
        progress.advance()
        XCTAssertEqual(capture.writes, [
            "denoising: 40 files, 2.00 files/s\n",
            "denoising: 40 files in 0:20 (2.00 files/s)\n",
        ])

        let bar = Capture()
        let barProgress = reporter(.bar, total: 2, bar)
        bar.time = 1
        barProgress.finish()
        XCTAssertEqual(bar.writes, ["\r\u{1B}[Kdenoising: 0 files in 0:01 (0.00 files/s)\n"])
    }

    func testSummaryOfOneNamesItInTheSingular() {
        let capture = Capture()
        let progress = reporter(.lines, total: 1, capture)
        capture.time = 2
        progress.advance()
        progress.finish()
        XCTAssertEqual(capture.writes, ["denoising: 1 file in 0:02 (0.50 files/s)\n"])
    }

    func testSilentStylePrintsNothing() {
        let capture = Capture()
        let progress = reporter(.silent, total: 10, capture)
        capture.time = 100
        progress.advance(by: 10)
        progress.finish()
        XCTAssertEqual(capture.writes, [])
    }

    func testConcurrentAdvancesAreAllCounted() {
        let capture = Capture()   // written only under the reporter's lock
        let progress = reporter(.lines, total: nil, capture)
        DispatchQueue.concurrentPerform(iterations: 1000) { _ in progress.advance() }
        capture.time = 1
        progress.finish()
        XCTAssertEqual(capture.writes, ["denoising: 1000 files in 0:01 (1000 files/s)\n"])
    }
}
