import XCTest
@testable import DenoiseKit

final class ScheduleTests: XCTestCase {
    func testStepLR() {
        let schedule = StepLR(stepSize: 50, gamma: 0.5)
        XCTAssertEqual(schedule.learningRate(epoch: 0, base: 0.1), 0.1, accuracy: 1e-9)
        XCTAssertEqual(schedule.learningRate(epoch: 49, base: 0.1), 0.1, accuracy: 1e-9)
        XCTAssertEqual(schedule.learningRate(epoch: 50, base: 0.1), 0.05, accuracy: 1e-9)
        XCTAssertEqual(schedule.learningRate(epoch: 99, base: 0.1), 0.05, accuracy: 1e-9)
        XCTAssertEqual(schedule.learningRate(epoch: 100, base: 0.1), 0.025, accuracy: 1e-9)
    }

    func testMultiStepLR() {
        let schedule = MultiStepLR(milestones: [50, 125, 160], gamma: 0.5)
        let expected: [(Int, Float)] = [(0, 0.1), (49, 0.1), (50, 0.05), (124, 0.05), (125, 0.025),
                                        (159, 0.025), (160, 0.0125), (500, 0.0125)]
        for (epoch, lr) in expected {
            XCTAssertEqual(schedule.learningRate(epoch: epoch, base: 0.1), lr, accuracy: 1e-9, "epoch \(epoch)")
        }
    }

    func testExponentialLR() {
        let schedule = ExponentialLR(gamma: 0.95)
        var expected = 0.1
        for epoch in 0..<60 {
            // Relative 1e-6: γ is held as a Float (0.95 − 1.2e-9), which compounds over the epochs.
            XCTAssertEqual(schedule.learningRate(epoch: epoch, base: 0.1), Float(expected),
                           accuracy: 1e-6 * Float(expected), "epoch \(epoch)")
            expected *= 0.95
        }
        XCTAssertEqual(schedule.learningRate(epoch: 1, base: 0.1), 0.095, accuracy: 1e-9)
    }

    func testCosineWithWarmup() {
        // 10 epochs: 2 of warm-up (0.05, 0.1), then a half cosine over 8 epochs from 0.1 to the minimum 0.01.
        let schedule = CosineAnnealing(totalEpochs: 10, warmupEpochs: 2, minimum: 0.01)
        let rate = { schedule.learningRate(epoch: $0, base: 0.1) }
        let rootHalf = Float(0.5).squareRoot()  // cos(π/4)
        XCTAssertEqual(rate(0), 0.05, accuracy: 1e-7)
        XCTAssertEqual(rate(1), 0.1, accuracy: 1e-7)
        XCTAssertEqual(rate(2), 0.1, accuracy: 1e-7)
        XCTAssertEqual(rate(6), 0.055, accuracy: 1e-7)  // halfway: (0.1 + 0.01)/2
        XCTAssertEqual(rate(4), 0.01 + 0.09 * (1 + rootHalf) / 2, accuracy: 1e-7)  // a quarter of the way
        XCTAssertEqual(rate(10), 0.01, accuracy: 1e-9)
        XCTAssertEqual(rate(50), 0.01, accuracy: 1e-9)
        for epoch in 2..<10 { XCTAssertLessThan(rate(epoch + 1), rate(epoch), "epoch \(epoch)") }
        XCTAssertGreaterThan(rate(9), 0.01)

        // Without warm-up: PyTorch's CosineAnnealingLR(T_max = 4, eta_min = 0).
        let plain = CosineAnnealing(totalEpochs: 4)
        let expected: [Float] = [0.1, 0.1 * (1 + rootHalf) / 2, 0.05, 0.1 * (1 - rootHalf) / 2, 0]
        for (epoch, lr) in expected.enumerated() {
            XCTAssertEqual(plain.learningRate(epoch: epoch, base: 0.1), lr, accuracy: 1e-7, "epoch \(epoch)")
        }
    }

    func testScheduleSpecParsing() throws {
        XCTAssertEqual(try Schedules.parse("step:50:0.5", totalEpochs: 200) as? StepLR,
                       StepLR(stepSize: 50, gamma: 0.5))
        XCTAssertEqual(try Schedules.parse("multistep:50,125,160:0.5", totalEpochs: 200) as? MultiStepLR,
                       MultiStepLR(milestones: [50, 125, 160], gamma: 0.5))
        XCTAssertEqual(try Schedules.parse("exp:0.95", totalEpochs: 200) as? ExponentialLR, ExponentialLR(gamma: 0.95))
        XCTAssertEqual(try Schedules.parse("cosine", totalEpochs: 200) as? CosineAnnealing,
                       CosineAnnealing(totalEpochs: 200))
        XCTAssertEqual(try Schedules.parse("cosine:5", totalEpochs: 200) as? CosineAnnealing,
                       CosineAnnealing(totalEpochs: 200, warmupEpochs: 5))
        XCTAssertEqual(try Schedules.parse("none", totalEpochs: 200) as? ConstantLR, ConstantLR())
        XCTAssertEqual(try Schedules.parse("none", totalEpochs: 200).learningRate(epoch: 77, base: 0.3), 0.3)

        let bad = ["", "steps:50:0.5", "step", "step:50", "step:0:0.5", "step:50:-0.5", "step:50:0.5:1",
                   "multistep:50,40:0.5", "multistep::0.5", "multistep:50,,60:0.5", "exp:abc", "exp:0",
                   "cosine:200", "cosine:-1", "cosine:2:3", "none:1"]
        for spec in bad {
            XCTAssertThrowsError(try Schedules.parse(spec, totalEpochs: 200), "'\(spec)'") { error in
                guard case let .invalidSpec(named, _)? = error as? ScheduleError else {
                    return XCTFail("'\(spec)' threw \(error)")
                }
                XCTAssertEqual(named, spec)
                XCTAssertTrue("\(error)".contains("'\(spec)'"), "\(error)")
            }
        }
        XCTAssertThrowsError(try Schedules.parse("cosine", totalEpochs: 0))
    }
}
