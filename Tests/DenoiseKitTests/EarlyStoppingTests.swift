import XCTest
@testable import DenoiseKit

final class EarlyStoppingTests: XCTestCase {
    func testEarlyStoppingStopsAfterPatience() {
        let stopper = EarlyStopping(patience: 3, minDelta: 0.01)
        // (score, improved, stop): 0.795 beats 0.8 by less than minDelta, so it does not count.
        let epochs: [(Float, Bool, Bool)] = [
            (1.0, true, false), (0.8, true, false), (0.795, false, false), (0.85, false, false),
            (0.7, true, false), (0.75, false, false), (0.705, false, false), (0.71, false, true),
        ]
        for (epoch, (score, improved, stop)) in epochs.enumerated() {
            let decision = stopper.update(epoch: epoch, score: score)
            XCTAssertEqual(decision.improved, improved, "epoch \(epoch)")
            XCTAssertEqual(decision.shouldStop, stop, "epoch \(epoch)")
            XCTAssertEqual(stopper.shouldStop, stop, "epoch \(epoch)")
        }
        XCTAssertEqual(stopper.bestEpoch, 4)
        XCTAssertEqual(stopper.bestScore, 0.7)
        XCTAssertEqual(stopper.epochsWithoutImprovement, 3)
    }

    func testEarlyStoppingMaximizesAndIgnoresNonFiniteScores() {
        let stopper = EarlyStopping(patience: 2, mode: .maximize)
        XCTAssertFalse(stopper.update(epoch: 0, score: .nan).improved)
        XCTAssertNil(stopper.bestEpoch)
        XCTAssertTrue(stopper.update(epoch: 1, score: 5).improved)
        XCTAssertTrue(stopper.update(epoch: 2, score: 7).improved)
        XCTAssertFalse(stopper.update(epoch: 3, score: .infinity).improved)
        let last = stopper.update(epoch: 4, score: 6.5)
        XCTAssertEqual(last, EarlyStopping.Decision(improved: false, shouldStop: true))
        XCTAssertEqual(stopper.bestEpoch, 2)
        XCTAssertEqual(stopper.bestScore, 7)
    }

    func testEarlyStoppingWithZeroPatienceStopsAtFirstStall() {
        let stopper = EarlyStopping(patience: 0)
        XCTAssertEqual(stopper.update(epoch: 0, score: 1), .init(improved: true, shouldStop: false))
        XCTAssertEqual(stopper.update(epoch: 1, score: 1), .init(improved: false, shouldStop: true))
    }

    func testEarlyStoppingResumesFromJSON() throws {
        let stopper = EarlyStopping(patience: 2, minDelta: 0.1)
        stopper.update(epoch: 0, score: 3)
        stopper.update(epoch: 1, score: 2.95)
        let resumed = try JSONDecoder().decode(EarlyStopping.self, from: JSONEncoder().encode(stopper))
        XCTAssertEqual(resumed.bestEpoch, 0)
        XCTAssertEqual(resumed.bestScore, 3)
        XCTAssertEqual(resumed.minDelta, 0.1)
        XCTAssertEqual(resumed.epochsWithoutImprovement, 1)
        XCTAssertTrue(resumed.update(epoch: 2, score: 2.96).shouldStop)
    }
}
