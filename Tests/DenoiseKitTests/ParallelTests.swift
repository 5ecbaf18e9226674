import XCTest
@testable import DenoiseKit

// Splitting element-wise passes across threads: the pieces cover every real row once, and a whole training
// step gives the same results split as on one thread.

final class ParallelTests: XCTestCase {
    /// `threads` chunks for every pass over more than one element: a value handed to the code under test, so no
    /// process-wide setting changes and the tests may run side by side.
    private func split(threads: Int) -> Parallelism {
        var parallelism = Parallelism(threads: threads)
        parallelism.minimumElements = 1
        return parallelism
    }

    func testRealRowPiecesCoverEachRealRowOnceInBatchOrderPerChunk() {
        let layout = SequenceBatch(frames: 5, lengths: [5, 0, 2, 4, 1])
        for chunks in 1...6 {
            let lock = NSLock()
            var pieces: [(chunk: Int, rows: Range<Int>)] = []
            layout.forEachRealRowPiece(chunks: chunks) { chunk, rows in
                lock.lock()
                pieces.append((chunk, rows))
                lock.unlock()
            }
            let rows = pieces.sorted { ($0.chunk, $0.rows.lowerBound) < ($1.chunk, $1.rows.lowerBound) }
                .flatMap { Array($0.rows) }
            let real = (0..<layout.rows).filter { layout.isReal(row: $0) }
            XCTAssertEqual(rows, real, "\(chunks) chunks")
            for piece in pieces {
                XCTAssertFalse(piece.rows.isEmpty)
                XCTAssertEqual(piece.rows.lowerBound / layout.frames, (piece.rows.upperBound - 1) / layout.frames,
                               "a piece stays within one utterance")
            }
        }
    }

    func testUtteranceGroupsAreContiguousBalancedAndCoverEveryUtterance() {
        let layout = SequenceBatch(frames: 10, lengths: [10, 2, 0, 9, 3, 8, 10, 1])
        for count in 1...9 {
            let groups = layout.utteranceGroups(count)
            XCTAssertLessThanOrEqual(groups.count, count)
            XCTAssertEqual(groups.flatMap { Array($0) }.filter { layout.lengths[$0] > 0 },
                           (0..<layout.batch).filter { layout.lengths[$0] > 0 }, "\(count) groups")
            XCTAssertTrue(zip(groups, groups.dropFirst()).allSatisfy { $0.upperBound <= $1.lowerBound })
            XCTAssertTrue(groups.allSatisfy { g in g.contains { layout.lengths[$0] > 0 } }, "no group without frames")
        }
        // 43 frames in two: the first group closes once it holds at least half (after 10 + 2 + 0 + 9 + 3).
        XCTAssertEqual(layout.utteranceGroups(2), [0..<5, 5..<8])  // 24 and 19 frames
        XCTAssertEqual(SequenceBatch(frames: 4, lengths: [0, 0]).utteranceGroups(2), [])
    }

    func testChunkCountFollowsThreadsAndSize() {
        XCTAssertEqual(Parallelism(threads: 1).chunks(elements: 10_000_000), 1)
        let two = Parallelism(threads: 2)
        XCTAssertEqual(two.chunks(elements: 10_000_000), 2)
        XCTAssertEqual(two.chunks(elements: two.minimumElements), 1)
    }

    /// Forward, spectral loss and backward of both MaskNets with several norms, split into 3 chunks, against one
    /// thread: same masks, loss and gradients (sums may differ in rounding only).
    func testSplitTrainingStepMatchesSingleThread() throws {
        for (kind, norm) in [(MaskNetKind.mlp, NormKind.layer), (.cnn, .layer), (.mlp, .group), (.cnn, .instance)] {
            func step(_ parallelism: Parallelism) throws -> (mask: [Float], loss: Float, gradients: [Float]) {
                let model = try TestSignals.tinyModel(kind, norm: norm, dropout: 0.2, seed: 12)
                let bins = model.stft.bins
                var layout = SequenceBatch(frames: 9, lengths: [9, 4, 0, 7])
                layout.parallelism = parallelism
                var rng = RandomGenerator(seed: 13)
                func random(_ low: Float, _ high: Float) -> Matrix {
                    Matrix(rows: layout.rows, cols: bins,
                           values: (0..<(layout.rows * bins)).map { _ in rng.uniform(low, high) })
                }
                let x = random(-12, 2), noisy = random(0.1, 1), clean = random(0, 1)
                let gradient = Matrix(rows: 0, cols: 0)
                let mask = model.net.forward(x, layout: layout, training: true)
                let loss = Loss.spectral(mask: mask, noisyMagnitude: noisy, cleanMagnitude: clean, layout: layout,
                                         gradient: gradient)
                model.net.store.zeroGradients()
                model.net.backward(gradient)
                return (mask.array, loss, Array(model.net.store.gradientBuffer))
            }
            let single = try step(split(threads: 1))
            let parallel = try step(split(threads: 3))
            let what = "\(kind) \(norm)"
            XCTAssertEqual(parallel.loss, single.loss, accuracy: 1e-6 * abs(single.loss), what)
            for (name, a, b) in [("mask", parallel.mask, single.mask),
                                 ("gradient", parallel.gradients, single.gradients)] {
                XCTAssertEqual(a.count, b.count)
                for i in 0..<min(a.count, b.count) where abs(a[i] - b[i]) > 1e-6 + 1e-5 * abs(b[i]) {
                    XCTFail("\(what) \(name)[\(i)]: split \(a[i]), one thread \(b[i])")
                    break
                }
            }
        }
    }

    /// Adam's update is element-wise, so splitting a large tensor across threads changes nothing, bit for bit.
    func testSplitAdamStepIsIdentical() {
        func run(_ parallelism: Parallelism) -> [Float] {
            var rng = RandomGenerator(seed: 31)
            let store = ParameterStore()
            store.add("w", shape: [300, 700], decays: true) { _ in rng.uniform(-1, 1) }
            store.add("b", shape: [700], decays: false) { _ in rng.uniform(-1, 1) }
            let optimizer = Adam.adamW(learningRate: 0.01)
            for _ in 0..<3 {
                for i in 0..<store.count { store.gradients[i] = rng.uniform(-1, 1) }
                optimizer.step(store, parallelism: parallelism)
            }
            return Array(store.valueBuffer)
        }
        let single = run(split(threads: 1))
        let parallel = run(split(threads: 3))
        XCTAssertTrue(single == parallel)
    }
}
