import XCTest
@testable import DenoiseKit

/// The network's input stage (`InputStage`): bands, then the running norm, written once for every path.
final class InputStageTests: XCTestCase {
    private let bins = 33, frameSeconds = 0.016

    /// The eight stages: with or without 12 bands, with or without the running norm, with or without an 8-band
    /// noise floor.
    private func stages() -> [(label: String, stage: InputStage)] {
        var stages: [(String, InputStage)] = []
        for bands in [nil, ERBBands(bands: 12, bins: bins, nyquistHz: 8000)] {
            for running in [false, true] {
                for floored in [false, true] {
                    let norm = running ? RunningNormalizer(bins: bands?.bands ?? bins, frameSeconds: frameSeconds) : nil
                    let floor = floored ? (ERBBands(bands: 8, bins: bins, nyquistHz: 8000),
                                           NoiseFloorTracker(bands: 8, frameSeconds: frameSeconds)) : nil
                    stages.append(("\(bands?.bands ?? 0) bands, running norm \(running), floor \(floored)",
                                   InputStage(bins: bins, bands: bands, runningNorm: norm, floor: floor)))
                }
            }
        }
        return stages
    }


    func testFrameByFrameFromAResetGivesEachUtteranceOfTheBatchExactly() {
        let layout = SequenceBatch(frames: 9, lengths: [9, 4, 0, 6])
        let features = TestSignals.logPowers(frames: layout.rows, bins: bins, seed: 1)
        for (label, stage) in stages() {
            // Frames fed before the batch must not leak into it: each utterance starts from a fresh state.
            var scratch = [Float](repeating: 0, count: stage.inputWidth)
            for t in 0..<3 { stage.transformFrame(features.row(t + 9), into: &scratch) }
            let batch = stage.transformBatch(features, layout: layout)
            var frame = [Float](repeating: 0, count: stage.inputWidth)
            for b in 0..<layout.batch {
                stage.reset()
                for row in layout.realRows(of: b) {
                    stage.transformFrame(features.row(row), into: &frame)
                    XCTAssertEqual(Array(UnsafeBufferPointer(start: batch.row(row), count: stage.inputWidth)), frame,
                                   "\(label), row \(row)")
                }
            }
            // The identity hands the features back as they are; a stage that changes them leaves padding zero.
            guard !stage.isIdentity else { continue }
            for row in 0..<layout.rows where !layout.isReal(row: row) {
                XCTAssertEqual(Array(UnsafeBufferPointer(start: batch.row(row), count: stage.inputWidth)),
                               frame.map { _ in 0 }, "\(label), padding row \(row)")
            }
        }
    }

    func testBandsArePooledBeforeTheRunningNorm() {
        let bands = ERBBands(bands: 12, bins: bins, nyquistHz: 8000)
        let stage = InputStage(bins: bins, bands: bands,
                               runningNorm: RunningNormalizer(bins: 12, frameSeconds: frameSeconds))
        let reference = RunningNormalizer(bins: 12, frameSeconds: frameSeconds)
        let features = TestSignals.logPowers(frames: 5, bins: bins, seed: 2)
        var staged = [Float](repeating: 0, count: 12), pooled = staged, expected = staged
        var powers = [Float](repeating: 0, count: bins)
        for t in 0..<5 {
            stage.transformFrame(features.row(t), into: &staged)
            bands.pool(features.row(t), into: &pooled, powers: &powers)
            reference.normalize(pooled, into: &expected)
            XCTAssertEqual(staged, expected, "frame \(t)")
        }
    }

    func testAStageWithoutBandsOrRunningNormIsTheIdentity() {
        let stage = InputStage(bins: bins, bands: nil, runningNorm: nil)
        XCTAssertTrue(stage.isIdentity)
        XCTAssertFalse(stage.isStateful)
        let features = TestSignals.logPowers(frames: 4, bins: bins, seed: 3)
        XCTAssertTrue(stage.transformBatch(features, layout: .single(frames: 4)) === features, "no copy")
        var frame = [Float](repeating: 0, count: bins)
        stage.transformFrame(features.row(2), into: &frame)
        XCTAssertEqual(frame, Array(UnsafeBufferPointer(start: features.row(2), count: bins)))
        for (label, stage) in stages().dropFirst() { XCTAssertFalse(stage.isIdentity, label) }
    }

    func testOnlyTheRunningNormHasStateAndBandsSetTheWidth() throws {
        for bands in [nil, 12] as [Int?] {
            for inputNorm in InputNormKind.allCases {
                let config = MaskNetConfig(kind: .cnn, bins: bins, hidden: 8, inputNorm: inputNorm, inputBands: bands)
                let stage = try MaskNet(config: config).makeInputStage()
                XCTAssertEqual(stage.isStateful, inputNorm == .running, "\(inputNorm)")
                XCTAssertEqual(stage.inputWidth, bands ?? bins)
                XCTAssertEqual(stage.isIdentity, bands == nil && inputNorm != .running, "\(inputNorm)")
            }
        }
    }
}
