import XCTest
@testable import DenoiseKit

// Masked MSE and the compressed spectral loss: hand-computed values, padding ignored, finite-difference
// gradient checks against Double references of the loss.

private let layout = SequenceBatch(frames: 3, lengths: [3, 1])

/// Central differences (step 1e-6, Double) of `loss` at `values`, compared with `analytic` within `tolerance`;
/// padding rows must have a zero gradient.
private func checkLossGradient(_ analytic: [Float], at values: [Double], columns: Int,
                               tolerance: Tolerance = Tolerance(absolute: 1e-6, relative: 1e-3),
                               file: StaticString = #filePath, line: UInt = #line, _ loss: ([Double]) -> Double) {
    var v = values
    let h = 1e-6
    for i in 0..<v.count {
        let x = v[i]
        v[i] = x + h
        let plus = loss(v)
        v[i] = x - h
        let minus = loss(v)
        v[i] = x
        let numeric = (plus - minus) / (2 * h)
        if !layout.isReal(row: i / columns) {
            XCTAssertEqual(analytic[i], 0, "padding gradient [\(i)]", file: file, line: line)
        }
        XCTAssertTrue(tolerance.accepts(Double(analytic[i]), numeric),
                      "gradient[\(i)]: analytic \(analytic[i]), numeric \(numeric)", file: file, line: line)
    }
}

/// Mean over real rows × columns of ((m·X + ε)^c − (S + ε)^c)², in Double.
private func spectralReference(_ m: [Double], _ x: [Double], _ s: [Double], columns: Int, c: Double) -> Double {
    let eps = Double(Loss.spectralEpsilon)
    var sum = 0.0, n = 0
    for i in 0..<m.count where layout.isReal(row: i / columns) {
        let e = pow(m[i] * x[i] + eps, c) - pow(s[i] + eps, c)
        sum += e * e
        n += 1
    }
    return sum / Double(n)
}

final class LossTests: XCTestCase {
    func testMaskedMSEAveragesOverRealRowsOnly() {
        // Real rows 0, 1, 2 (first utterance) and 3 (second); rows 4 and 5 are padding full of garbage.
        let p = Matrix(rows: 6, cols: 2, values: [1, 2, 3, 4, 0, 0, 1, 1, 50, 50, -50, 9])
        let t = Matrix(rows: 6, cols: 2, values: [0, 2, 3, 2, 1, 0, 1, 4, 0, 0, 0, 0])
        let gradient = Matrix(rows: 0, cols: 0)
        let loss = Loss.maskedMSE(prediction: p, target: t, layout: layout, gradient: gradient)
        // Squared errors 1, 0, 0, 4, 1, 0, 0, 9 over 8 real elements.
        XCTAssertEqual(loss, 15 / 8, accuracy: 1e-6)
        XCTAssertEqual(gradient.array, [2.0 / 8, 0, 0, 4.0 / 8, -2.0 / 8, 0, 0, -6.0 / 8, 0, 0, 0, 0])
    }

    func testMaskedMSEGradientCheck() {
        var rng = RandomGenerator(seed: 1)
        let p = randomMatrix(layout.rows, 3, &rng), t = randomMatrix(layout.rows, 3, &rng)
        let gradient = Matrix(rows: 0, cols: 0)
        _ = Loss.maskedMSE(prediction: p, target: t, layout: layout, gradient: gradient)
        let t64 = t.array.map(Double.init)
        checkLossGradient(gradient.array, at: p.array.map(Double.init), columns: 3) { p64 in
            var sum = 0.0, n = 0
            for i in 0..<p64.count where layout.isReal(row: i / 3) {
                sum += (p64[i] - t64[i]) * (p64[i] - t64[i])
                n += 1
            }
            return sum / Double(n)
        }
    }

    func testSpectralLossMatchesHandComputedValueAndGradient() {
        // c = 0.5. Element 1: m = 1, |X| = 4, |S| = 1: e = 2 − 1 = 1. Element 2: m = 0.25, |X| = 4, |S| = 9:
        // e = 1 − 3 = −2. L = (1 + 4)/2 = 2.5; dL/dm = (2/2)·e·0.5·(m|X|)^(−0.5)·|X| = 1 and −4.
        let m = Matrix(rows: 1, cols: 2, values: [1, 0.25])
        let x = Matrix(rows: 1, cols: 2, values: [4, 4]), s = Matrix(rows: 1, cols: 2, values: [1, 9])
        let gradient = Matrix(rows: 0, cols: 0)
        let loss = Loss.spectral(mask: m, noisyMagnitude: x, cleanMagnitude: s, layout: .single(frames: 1),
                                 compression: 0.5, gradient: gradient)
        XCTAssertEqual(loss, 2.5, accuracy: 1e-5)
        XCTAssertEqual(gradient[0, 0], 1, accuracy: 1e-5)
        XCTAssertEqual(gradient[0, 1], -4, accuracy: 1e-5)
    }

    func testSpectralLossGradientCheck() {
        var rng = RandomGenerator(seed: 2)
        let bins = 4
        for c in [Float(0.3), 0.5, 1] {
            let m = Matrix(rows: layout.rows, cols: bins,
                           values: (0..<(layout.rows * bins)).map { _ in rng.uniform(0.05, 1) })
            let x = Matrix(rows: layout.rows, cols: bins,
                           values: (0..<(layout.rows * bins)).map { _ in rng.uniform(0.01, 3) })
            let s = Matrix(rows: layout.rows, cols: bins,
                           values: (0..<(layout.rows * bins)).map { _ in rng.uniform(0, 2) })
            fillPaddingRows(m, layout, with: paddingGarbage)
            let gradient = Matrix(rows: 0, cols: 0)
            let loss = Loss.spectral(mask: m, noisyMagnitude: x, cleanMagnitude: s, layout: layout,
                                     compression: c, gradient: gradient)
            let x64 = x.array.map(Double.init), s64 = s.array.map(Double.init)
            XCTAssertEqual(Double(loss), spectralReference(m.array.map(Double.init), x64, s64, columns: bins,
                                                           c: Double(c)), accuracy: 1e-5)
            checkLossGradient(gradient.array, at: m.array.map(Double.init), columns: bins) { m64 in
                spectralReference(m64, x64, s64, columns: bins, c: Double(c))
            }
        }
    }

    func testPhaseAwareSpectralLossMatchesTheComplexDistanceAndPassesAGradientCheck() {
        // Reference built from complex numbers: (1 − α)·(a − b)² + α·|a·e^{iθX} − b·e^{iθS}|², with
        // a = (m|X| + ε)^c and b = (|S| + ε)^c; the loss only sees cos(θX − θS).
        var rng = RandomGenerator(seed: 3)
        let bins = 4, count = layout.rows * bins, c = 0.3
        let m = Matrix(rows: layout.rows, cols: bins, values: (0..<count).map { _ in rng.uniform(0.05, 1) })
        let x = Matrix(rows: layout.rows, cols: bins, values: (0..<count).map { _ in rng.uniform(0.01, 3) })
        let s = Matrix(rows: layout.rows, cols: bins, values: (0..<count).map { _ in rng.uniform(0, 2) })
        let thetaX = (0..<count).map { _ in Double(rng.uniform(-3.14, 3.14)) }
        let thetaS = (0..<count).map { _ in Double(rng.uniform(-3.14, 3.14)) }
        let cosine = Matrix(rows: layout.rows, cols: bins,
                            values: (0..<count).map { Float(cos(thetaX[$0] - thetaS[$0])) })
        fillPaddingRows(m, layout, with: paddingGarbage)
        let x64 = x.array.map(Double.init), s64 = s.array.map(Double.init), eps = Double(Loss.spectralEpsilon)
        for alpha in [0.3, 1.0] {
            func reference(_ m64: [Double]) -> Double {
                var sum = 0.0, n = 0
                for i in 0..<count where layout.isReal(row: i / bins) {
                    let a = pow(m64[i] * x64[i] + eps, c), b = pow(s64[i] + eps, c)
                    let re = a * cos(thetaX[i]) - b * cos(thetaS[i]), im = a * sin(thetaX[i]) - b * sin(thetaS[i])
                    sum += (1 - alpha) * (a - b) * (a - b) + alpha * (re * re + im * im)
                    n += 1
                }
                return sum / Double(n)
            }
            let gradient = Matrix(rows: 0, cols: 0)
            let loss = Loss.spectral(mask: m, noisyMagnitude: x, cleanMagnitude: s, layout: layout,
                                     phaseCosine: cosine, phaseWeight: Float(alpha), gradient: gradient)
            XCTAssertEqual(Double(loss), reference(m.array.map(Double.init)), accuracy: 1e-5, "α = \(alpha)")
            checkLossGradient(gradient.array, at: m.array.map(Double.init), columns: bins) { reference($0) }
        }
    }

    func testPhaseAwareLossPrefersSmallerMasksWherePhaseDisagrees() {
        // |X| = |S| = 1: the magnitude loss wants m = 1 whatever the phase; with the phase term and
        // opposite phases the gradient at m = 1 pushes the mask down.
        let m = Matrix(rows: 1, cols: 2, values: [1, 1]), x = Matrix(rows: 1, cols: 2, values: [1, 1])
        let s = Matrix(rows: 1, cols: 2, values: [1, 1]), cosine = Matrix(rows: 1, cols: 2, values: [1, -1])
        let gradient = Matrix(rows: 0, cols: 0)
        _ = Loss.spectral(mask: m, noisyMagnitude: x, cleanMagnitude: s, layout: .single(frames: 1),
                          phaseCosine: cosine, phaseWeight: 0.3, gradient: gradient)
        XCTAssertEqual(gradient[0, 0], 0, accuracy: 1e-6)
        XCTAssertGreaterThan(gradient[0, 1], 0.01)
    }

    func testSpectralLossIsZeroForThePerfectMask() {
        let x = Matrix(rows: 1, cols: 3, values: [2, 0.5, 1e-3]), s = Matrix(rows: 1, cols: 3, values: [1, 0.5, 5e-4])
        let m = Matrix(rows: 1, cols: 3, values: [0.5, 1, 0.5])
        let gradient = Matrix(rows: 0, cols: 0)
        let loss = Loss.spectral(mask: m, noisyMagnitude: x, cleanMagnitude: s, layout: .single(frames: 1),
                                 gradient: gradient)
        XCTAssertEqual(loss, 0, accuracy: 1e-10)
        for g in gradient.array { XCTAssertEqual(g, 0, accuracy: 1e-5) }
    }

    func testSpectralLossGradientIsFiniteWhereTheMaskIsZero() {
        // (m|X|)^0.3 has an infinite derivative at m = 0; the epsilon keeps it finite and pointing up.
        let m = Matrix(rows: 1, cols: 1, values: [0]), x = Matrix(rows: 1, cols: 1, values: [1])
        let s = Matrix(rows: 1, cols: 1, values: [1])
        let gradient = Matrix(rows: 0, cols: 0)
        let loss = Loss.spectral(mask: m, noisyMagnitude: x, cleanMagnitude: s, layout: .single(frames: 1),
                                 gradient: gradient)
        XCTAssertEqual(loss, 1, accuracy: 0.01)
        XCTAssertTrue(gradient[0, 0].isFinite)
        XCTAssertLessThan(gradient[0, 0], 0)
    }

    /// The vector power behind the spectral loss against Foundation.pow, over magnitudes from 10⁻⁸ to 10⁶ and
    /// several exponents. Its error is dominated by rounding y = c·log2 x to Float, about |y|·2⁻²⁴·ln 2
    /// relative: under 10⁻⁶ for |c| ≤ 1 here, a few 10⁻⁶ for c = 2.5.
    func testVectorPowerMatchesFoundationPow() {
        for (c, tolerance): (Float, Float) in [(0.3, 6e-7), (0.5, 8e-7), (1, 1e-6), (2.5, 4e-6), (-0.7, 1e-6)] {
            var worst: Float = 0
            for start in stride(from: 0, to: 1400, by: 8) {
                let x = SIMD8<Float>((0..<8).map { Float(pow(10, -8 + Double(start + $0) / 100)) })
                XCTAssertTrue(RowKernel.powerInRange(x, c))
                let y = RowKernel.power(x, c)
                for lane in 0..<8 {
                    let expected = Float(pow(Double(x[lane]), Double(c)))
                    worst = max(worst, abs(y[lane] - expected) / expected)
                }
            }
            XCTAssertLessThan(worst, tolerance, "c = \(c)")
        }
        XCTAssertFalse(RowKernel.powerInRange(SIMD8<Float>(repeating: 1e30), 10))
        XCTAssertFalse(RowKernel.powerInRange(SIMD8<Float>(1, 1, 1, 1, 1, 1, 1, 0), 0.3))
        XCTAssertFalse(RowKernel.powerInRange(SIMD8<Float>(1, 1, 1, 1, 1, 1, 1, .infinity), 0.3))
    }

    /// The in-place power the denoiser applies to masks: the mask path (with zeros, and lanes whose power vanishes
    /// below 2⁻¹²⁵), blocks with subnormals or values above 1 (scalar fallback) and a tail of 3; exponents below,
    /// at and above 1.
    func testRaiseInPlaceMatchesFoundationPowIncludingZerosAndTheTail() {
        var values: [Float] = (0..<16).map { Float($0 + 1) / 17 }
        values += [0.5, 0, 0.25, Float.leastNormalMagnitude / 8, 1, 0.75, 0.125, 0.9]
        values += [0.5, 0, 1e-30, Float.leastNormalMagnitude, 1e-20, 0.75, 0, 2e-38]
        values += [0.5, 3, 0.25, 0.5, 1, 0.75, 0.125, 0.9]
        values += [0.3, 1, 0]
        XCTAssertTrue(RowKernel.isMask(SIMD8(values[24..<32])))
        XCTAssertFalse(RowKernel.isMask(SIMD8(values[16..<24])), "a subnormal")
        XCTAssertFalse(RowKernel.isMask(SIMD8(values[32..<40])), "above 1")
        for c: Float in [0.05, 0.7, 1.1, 2, 20] {
            var raised = values
            raised.withUnsafeMutableBufferPointer { RowKernel.raise($0.baseAddress!, $0.count, to: c) }
            for (x, y) in zip(values, raised) {
                let expected = Foundation.pow(x, c)
                XCTAssertEqual(y, expected, accuracy: max(4e-6 * expected, 3e-38), "\(x)^\(c)")
            }
        }
    }

    /// More than one vector of bins (vector path and tail): a perfect mask still gives exactly zero, and a large
    /// exponent on large magnitudes matches the Double reference.
    func testSpectralLossVectorPathIsExactForThePerfectMaskAndAccurateForLargeExponents() {
        var rng = RandomGenerator(seed: 4)
        let bins = 19
        let x = Matrix(rows: 2, cols: bins, values: (0..<(2 * bins)).map { _ in rng.uniform(0.001, 5) })
        let m = Matrix(rows: 2, cols: bins, values: (0..<(2 * bins)).map { _ in rng.uniform(0.05, 1) })
        let s = Matrix(rows: 2, cols: bins, values: zip(x.array, m.array).map { $0 * $1 })
        let gradient = Matrix(rows: 0, cols: 0)
        let single = SequenceBatch.single(frames: 2)
        XCTAssertEqual(Loss.spectral(mask: m, noisyMagnitude: x, cleanMagnitude: s, layout: single,
                                     gradient: gradient), 0)
        for g in gradient.array { XCTAssertEqual(g, 0) }

        let big = Matrix(rows: 2, cols: bins, values: x.array.map { $0 * 1000 })
        let target = Matrix(rows: 2, cols: bins, values: (0..<(2 * bins)).map { _ in rng.uniform(0, 1) })
        let loss = Loss.spectral(mask: m, noisyMagnitude: big, cleanMagnitude: target, layout: single,
                                 compression: 4, gradient: gradient)
        let eps = Double(Loss.spectralEpsilon)
        var expected = 0.0
        for i in 0..<(2 * bins) {
            let e = pow(Double(m.array[i]) * Double(big.array[i]) + eps, 4) - pow(Double(target.array[i]) + eps, 4)
            expected += e * e / Double(2 * bins)
        }
        XCTAssertEqual(Double(loss), expected, accuracy: 1e-4 * expected)
    }
}
