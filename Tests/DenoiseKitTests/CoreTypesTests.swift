import XCTest
@testable import DenoiseKit

final class CoreTypesTests: XCTestCase {
    func testSgemmMatchesReferenceForAllTranspositions() {
        var rng = RandomGenerator(seed: 7)
        let m = 13, n = 9, k = 21
        for transA in [false, true] {
            for transB in [false, true] {
                let a = (0..<(m * k)).map { _ in rng.uniform(-1, 1) }
                let b = (0..<(k * n)).map { _ in rng.uniform(-1, 1) }
                let c0 = (0..<(m * n)).map { _ in rng.uniform(-1, 1) }
                var fast = c0, slow = c0
                let lda = transA ? m : k, ldb = transB ? k : n
                BLAS.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5, a: a, lda: lda,
                          b: b, ldb: ldb, beta: 2, c: &fast, ldc: n)
                BLAS.referenceGemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5, a: a, lda: lda,
                                   b: b, ldb: ldb, beta: 2, c: &slow, ldc: n)
                for i in 0..<(m * n) { XCTAssertEqual(fast[i], slow[i], accuracy: 1e-4) }
            }
        }
    }

    func testParameterStoreKeepsHandlesValidWhenGrowing() {
        let store = ParameterStore()
        let w = store.add("w", shape: [2, 3], decays: true) { Float($0) }
        let b = store.add("b", shape: [1000], decays: false) { _ in 5 }
        XCTAssertEqual(w.array, [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(b.array.count, 1000)
        XCTAssertEqual(store.count, 1006)
        XCTAssertEqual(store.decayMask.prefix(7), [1, 1, 1, 1, 1, 1, 0])
        w.gradient[1] = 3
        store.zeroGradients()
        XCTAssertEqual(w.gradient[1], 0)
    }

    /// A store for weights about to be loaded skips the initialisers and starts at zero; a sized one keeps its
    /// storage (no reallocation) while the expected scalars are registered.
    func testParameterStoreWithoutInitializersStartsAtZero() {
        let store = ParameterStore(capacity: 10, runsInitializers: false)
        var calls = 0
        let w = store.add("w", shape: [4], decays: true) { _ in
            calls += 1
            return 7
        }
        XCTAssertEqual(calls, 0)
        XCTAssertEqual(w.array, [0, 0, 0, 0])
        let storage = store.values
        store.add("b", shape: [6], decays: false) { _ in 1 }
        XCTAssertEqual(store.values, storage, "10 scalars fit the reserved room")
        let initialized = ParameterStore()
        XCTAssertEqual(initialized.add("x", shape: [2], decays: false) { _ in 3 }.array, [3, 3])
    }

    func testRandomGeneratorIsReproducibleAndRestorable() {
        var a = RandomGenerator(seed: 42)
        _ = a.next()
        var b = RandomGenerator(stateWords: a.stateWords)
        XCTAssertEqual(a.next(), b.next())
        var c = RandomGenerator(seed: 43)
        XCTAssertNotEqual(RandomGenerator(seed: 42).stateWords, c.stateWords)
        let u = (0..<10_000).map { _ in c.uniform() }
        XCTAssertTrue(u.allSatisfy { $0 >= 0 && $0 < 1 })
        XCTAssertEqual(u.reduce(0, +) / 10_000, 0.5, accuracy: 0.02)
    }

    func testSequenceBatchMaskMarksRealFrames() {
        let layout = SequenceBatch(frames: 3, lengths: [3, 1])
        XCTAssertEqual(layout.mask, [1, 1, 1, 1, 0, 0])
        XCTAssertEqual(layout.realFrames, 4)
        XCTAssertFalse(layout.isReal(row: 5))
    }

    func testRealFFTInverseOfForwardIsSizeTimesInput() {
        let fft = RealFFT(size: 16)
        let x: [Float] = (0..<16).map { Float(sin(Double($0) * 0.7)) }
        var spectrum = [Float](repeating: 0, count: 2 * fft.bins)
        var y = [Float](repeating: 0, count: 16)
        fft.forward(x, &spectrum)
        fft.inverse(&spectrum, &y)
        for i in 0..<16 { XCTAssertEqual(y[i] / 16, x[i], accuracy: 1e-5) }
    }
}
