import XCTest
@testable import DenoiseKit

final class MaskNetStreamTests: XCTestCase {
    /// A causal CNN with every parameter (and the input BatchNorm's running statistics) random, so that no gain of
    /// one or shift of zero hides a mistake.
    private func randomCausalNet(bins: Int = 33, hidden: Int = 12, kernelSize: Int, dilations: [Int], residual: Bool,
                                 inputNorm: InputNormKind, speechHead: Bool = false, seed: UInt64) throws -> MaskNet {
        let config = MaskNetConfig(kind: .cnn, bins: bins, hidden: hidden, kernelSize: kernelSize, dilations: dilations,
                                   residual: residual, causal: true, inputNorm: inputNorm, dropout: 0.1,
                                   speechHead: speechHead)
        let net = try MaskNet(config: config, seed: seed)
        var rng = RandomGenerator(seed: seed + 100)
        TestSignals.randomizeWeights(net, rng: &rng)
        for (_, norm) in net.batchNorms {
            norm.runningMean = (0..<bins).map { _ in rng.uniform(-12, -4) }
            norm.runningVariance = (0..<bins).map { _ in rng.uniform(1, 9) }
        }
        return net
    }


    /// Masks of `features` one frame at a time.
    private func stepped(_ stream: MaskNetStream, _ features: Matrix) -> [Float] {
        var mask = [Float](repeating: 0, count: features.cols), out: [Float] = []
        for t in 0..<features.rows {
            let row = UnsafeBufferPointer(start: features.row(t), count: features.cols)
            mask.withUnsafeMutableBufferPointer { stream.step(row, mask: $0) }
            out += mask
        }
        return out
    }

    func testSteppingGivesTheSpeechHeadsLogitsAndTheSameMasks() throws {
        let net = try randomCausalNet(kernelSize: 3, dilations: [1, 2, 4], residual: true, inputNorm: .batch,
                                      speechHead: true, seed: 7)
        let frames = 2 * net.config.historyFrames + 5
        let features = TestSignals.logPowers(frames: frames, bins: net.config.bins, seed: 70)
        let whole = net.forward(features, layout: .single(frames: frames), training: false).array
        let logits = try XCTUnwrap(net.speechLogits).array
        let stream = try MaskNetStream(net)
        var mask = [Float](repeating: 0, count: features.cols), masks: [Float] = [], stepLogits: [Float] = []
        for t in 0..<frames {
            let row = UnsafeBufferPointer(start: features.row(t), count: features.cols)
            mask.withUnsafeMutableBufferPointer { stream.step(row, mask: $0) }
            masks += mask
            stepLogits.append(stream.speechLogit)
        }
        XCTAssertLessThan(zip(whole, masks).map { abs($0 - $1) }.max() ?? 1, 1e-5)
        XCTAssertLessThan(zip(logits, stepLogits).map { abs($0 - $1) }.max() ?? 1, 1e-4)
        XCTAssertGreaterThan((logits.max() ?? 0) - (logits.min() ?? 0), 0.1, "the logits vary")
    }

    func testSteppingFrameByFrameGivesTheWholeUtteranceMasksTo1e5() throws {
        let cases: [(kernel: Int, dilations: [Int], residual: Bool, inputNorm: InputNormKind)] = [
            (3, [1, 2, 4], true, .batch),
            (3, [1, 2, 4, 8], false, .layer),
            (2, [1, 3], true, .layer),
            (5, [2, 1], false, .batch),
        ]
        for (i, c) in cases.enumerated() {
            let net = try randomCausalNet(kernelSize: c.kernel, dilations: c.dilations, residual: c.residual,
                                          inputNorm: c.inputNorm, seed: UInt64(i + 1))
            let frames = 3 * net.config.historyFrames + 7
            let features = TestSignals.logPowers(frames: frames, bins: net.config.bins, seed: UInt64(i + 50))
            let whole = net.forward(features, layout: .single(frames: frames), training: false).array
            let stream = try MaskNetStream(net)
            let steps = stepped(stream, features)
            XCTAssertEqual(steps.count, whole.count)
            let diff = zip(whole, steps).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThan(diff, 1e-5, "case \(i): \(c)")
            // The masks vary: the comparison is not between two constants.
            XCTAssertGreaterThan((whole.max() ?? 0) - (whole.min() ?? 0), 0.1, "case \(i)")

            // After a reset the stream starts over: the same masks again.
            stream.reset()
            XCTAssertEqual(stepped(stream, features), steps, "case \(i) after reset")
        }
    }

    /// Steps of several frames at once (of sizes that cross every ring's span, with the speech head and the running
    /// input norm) give the masks and logits of the whole utterance, as one-frame steps do.
    func testSteppingSeveralFramesAtOnceGivesTheWholeUtteranceMasks() throws {
        let cases: [(kernel: Int, dilations: [Int], residual: Bool, inputNorm: InputNormKind)] = [
            (3, [1, 2, 4], true, .batch),
            (2, [1, 3], false, .running),
        ]
        for (i, c) in cases.enumerated() {
            let net = try randomCausalNet(kernelSize: c.kernel, dilations: c.dilations, residual: c.residual,
                                          inputNorm: c.inputNorm, speechHead: true, seed: UInt64(i + 20))
            let frames = 3 * net.config.historyFrames + 40
            let features = TestSignals.logPowers(frames: frames, bins: net.config.bins, seed: UInt64(i + 60))
            let whole = net.forward(features, layout: .single(frames: frames), training: false).array
            let logits = try XCTUnwrap(net.speechLogits).array
            let stream = try MaskNetStream(net)
            let bins = features.cols
            var masks = [Float](repeating: 0, count: frames * bins), stepLogits: [Float] = []
            var t = 0, s = 0
            let sizes = [1, 5, 2, 17, 1, 9, 30]
            masks.withUnsafeMutableBufferPointer { out in
                while t < frames {
                    let n = min(sizes[s % sizes.count], frames - t)
                    stream.step(features.row(t), frames: n, mask: out.baseAddress! + t * bins)
                    stepLogits += stream.speechLogits
                    XCTAssertEqual(stream.speechLogit, stream.speechLogits.last)
                    t += n
                    s += 1
                }
            }
            XCTAssertLessThan(zip(whole, masks).map { abs($0 - $1) }.max() ?? 1, 1e-5, "case \(i): \(c)")
            XCTAssertEqual(stepLogits.count, frames)
            XCTAssertLessThan(zip(logits, stepLogits).map { abs($0 - $1) }.max() ?? 1, 1e-4, "case \(i)")
            XCTAssertGreaterThan((whole.max() ?? 0) - (whole.min() ?? 0), 0.1, "case \(i): the masks vary")
        }
    }

    /// Frames stepped after the first ones see them: the stream is not the network applied to each frame alone.
    func testStepsCarryEarlierFrames() throws {
        let net = try randomCausalNet(kernelSize: 3, dilations: [1, 2], residual: true, inputNorm: .batch, seed: 9)
        let features = TestSignals.logPowers(frames: 10, bins: net.config.bins, seed: 10)
        let stream = try MaskNetStream(net)
        let all = stepped(stream, features)
        let last = Matrix(rows: 1, cols: features.cols, values: Array(features.array.suffix(features.cols)))
        stream.reset()
        XCTAssertNotEqual(stepped(stream, last), Array(all.suffix(features.cols)))
    }

    func testOnlyCausalConvolutionalNetworksStream() throws {
        XCTAssertThrowsError(try MaskNetStream(MaskNet(config: MaskNetConfig(kind: .cnn, bins: 9, hidden: 4))))
        XCTAssertThrowsError(try MaskNetStream(MaskNet(config: MaskNetConfig(kind: .mlp, bins: 9, hidden: 4))))
        XCTAssertFalse(MaskNetStream.canStream(MaskNetConfig(kind: .cnn, norm: .group)))
        XCTAssertTrue(MaskNetStream.canStream(MaskNetConfig(kind: .cnn, kernelSize: 3, causal: true)))
        // A causal model waits for no later frame, so the stream never needs a look-ahead.
        XCTAssertEqual(MaskNetConfig(kind: .cnn, kernelSize: 3, causal: true).lookAheadFrames, 0)
    }
}
