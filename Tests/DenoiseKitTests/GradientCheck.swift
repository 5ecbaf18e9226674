import XCTest
@testable import DenoiseKit

// Shared test helpers for NN layers: the finite-difference gradient check every layer goes through, the
// variable-length (padding) invariance check, and small matrix utilities.

/// A slow, obviously-correct Double implementation of a layer: the output [rows × outCols], row-major,
/// zeros on padding rows, from the input (row-major [rows × inCols]) and the parameters by store name.
typealias ReferenceLayer = (_ input: [Double], _ parameters: [String: [Double]]) -> [Double]

/// |a − b| ≤ absolute + relative · max(|a|, |b|).
struct Tolerance {
    var absolute: Double
    var relative: Double

    func accepts(_ a: Double, _ b: Double) -> Bool {
        a.isFinite && b.isFinite && abs(a - b) <= absolute + relative * max(abs(a), abs(b))
    }
}

/// Values that padding rows are filled with: finite, large, and obviously wrong if they leak anywhere.
let paddingGarbage: Float = 777

/// A [rows × cols] matrix of values uniform in ±scale.
func randomMatrix(_ rows: Int, _ cols: Int, _ rng: inout RandomGenerator, scale: Float = 1) -> Matrix {
    Matrix(rows: rows, cols: cols, values: (0..<(rows * cols)).map { _ in rng.uniform(-scale, scale) })
}

/// Writes `value` into every padding row of `m`.
func fillPaddingRows(_ m: Matrix, _ layout: SequenceBatch, with value: Float) {
    for r in 0..<m.rows where !layout.isReal(row: r) {
        for c in 0..<m.cols { m[r, c] = value }
    }
}

/// Checks a layer's output and its input and parameter gradients.
///
/// - Padding rows of the input and of the output gradient are filled with `paddingGarbage`; the output
///   and the input gradient must be exactly zero there.
/// - With a `reference`, the output must match it within `outputTolerance`.
/// - The input gradient and every parameter gradient in `store` must match central finite differences of
///   L = Σ g ⊙ y for a random output gradient g, within `gradientTolerance`. With a reference the differences
///   are taken on the reference in Double (step 1e-6); without one (randomised or composite layers), on the
///   layer itself in Float with step `floatStep` and L summed in Double, so the default tolerance is looser.
/// - `beforeForward` runs before every forward call (e.g. to reset a dropout generator).
func checkLayer(
    _ layer: Layer, store: ParameterStore, input: Matrix, layout: SequenceBatch, training: Bool = true,
    reference: ReferenceLayer? = nil,
    outputTolerance: Tolerance = Tolerance(absolute: 1e-5, relative: 1e-4),
    gradientTolerance: Tolerance? = nil, floatStep: Float = 1e-3, seed: UInt64 = 99,
    beforeForward: () -> Void = {}, file: StaticString = #filePath, line: UInt = #line
) {
    var rng = RandomGenerator(seed: seed)
    let x = Matrix(rows: input.rows, cols: input.cols)
    x.copy(from: input)
    fillPaddingRows(x, layout, with: paddingGarbage)

    // Forward; padding rows of the output are zero.
    beforeForward()
    let y = layer.forward(x, layout: layout, training: training).array
    XCTAssertEqual(y.count % x.rows, 0, "output row count", file: file, line: line)
    let outCols = y.count / max(x.rows, 1)
    for r in 0..<x.rows where !layout.isReal(row: r) {
        for c in 0..<outCols where y[r * outCols + c] != 0 {
            XCTFail("output padding row \(r) holds \(y[r * outCols + c])", file: file, line: line)
            return
        }
    }

    // Output against the reference.
    let parameterValues: () -> [String: [Double]] = {
        var p: [String: [Double]] = [:]
        for e in store.entries { p[e.name] = (0..<e.count).map { Double(store.values[e.offset + $0]) } }
        return p
    }
    let x64 = x.array.map(Double.init)
    if let reference {
        let expected = reference(x64, parameterValues())
        XCTAssertEqual(expected.count, y.count, "reference output size", file: file, line: line)
        var bad = 0
        for i in 0..<min(expected.count, y.count) where !outputTolerance.accepts(Double(y[i]), expected[i]) {
            if bad < 5 { XCTFail("output[\(i)] = \(y[i]), reference \(expected[i])", file: file, line: line) }
            bad += 1
        }
        if bad > 0 { return }
    }

    // Analytic gradients.
    let g = randomMatrix(x.rows, outCols, &rng)
    fillPaddingRows(g, layout, with: -paddingGarbage)
    store.zeroGradients()
    let dx = layer.backward(g).array
    let dParameters = Array(store.gradientBuffer)
    XCTAssertEqual(dx.count, x.count, "input gradient size", file: file, line: line)
    for r in 0..<x.rows where !layout.isReal(row: r) {
        for c in 0..<x.cols where dx[r * x.cols + c] != 0 {
            XCTFail("input gradient padding row \(r) holds \(dx[r * x.cols + c])", file: file, line: line)
            return
        }
    }

    // Numeric gradients of L = Σ g·y.
    let g64 = g.array.map(Double.init)
    func objective(_ y: [Double]) -> Double { zip(g64, y).reduce(0) { $0 + $1.0 * $1.1 } }
    var numericInput = [Double](repeating: 0, count: x.count)
    var numericParameters = [Double](repeating: 0, count: store.count)
    if let reference {
        let h = 1e-6
        var xs = x64
        let p0 = parameterValues()
        for i in 0..<xs.count {
            let v = xs[i]
            xs[i] = v + h
            let plus = objective(reference(xs, p0))
            xs[i] = v - h
            let minus = objective(reference(xs, p0))
            xs[i] = v
            numericInput[i] = (plus - minus) / (2 * h)
        }
        var p = p0
        for e in store.entries {
            for j in 0..<e.count {
                let v = p[e.name]![j]
                p[e.name]![j] = v + h
                let plus = objective(reference(x64, p))
                p[e.name]![j] = v - h
                let minus = objective(reference(x64, p))
                p[e.name]![j] = v
                numericParameters[e.offset + j] = (plus - minus) / (2 * h)
            }
        }
    } else {
        let h = floatStep
        func evaluate() -> Double {
            beforeForward()
            return objective(layer.forward(x, layout: layout, training: training).array.map(Double.init))
        }
        func differentiate(_ p: UnsafeMutablePointer<Float>) -> Double {
            let v = p.pointee
            p.pointee = v + h
            let plus = evaluate()
            p.pointee = v - h
            let minus = evaluate()
            p.pointee = v
            return (plus - minus) / Double(2 * h)
        }
        for i in 0..<x.count { numericInput[i] = differentiate(x.data + i) }
        for i in 0..<store.count { numericParameters[i] = differentiate(store.values + i) }
    }

    let tolerance = gradientTolerance
        ?? (reference == nil ? Tolerance(absolute: 2e-3, relative: 1e-2) : Tolerance(absolute: 1e-4, relative: 1e-3))
    var bad = 0
    for i in 0..<x.count where !tolerance.accepts(Double(dx[i]), numericInput[i]) {
        if bad < 5 {
            XCTFail("d input[\(i)] (row \(i / x.cols)): analytic \(dx[i]), numeric \(numericInput[i])",
                    file: file, line: line)
        }
        bad += 1
    }
    for e in store.entries {
        for j in 0..<e.count {
            let i = e.offset + j
            guard !tolerance.accepts(Double(dParameters[i]), numericParameters[i]) else { continue }
            if bad < 5 {
                XCTFail("d \(e.name)[\(j)]: analytic \(dParameters[i]), numeric \(numericParameters[i])",
                        file: file, line: line)
            }
            bad += 1
        }
    }
}

/// Checks that an utterance's output, input gradient and parameter gradients are the same alone as when it
/// is padded next to a longer utterance in one batch, placed first and/or second (`placements`).
///
/// `make` must build identical layers on fresh stores (same seeds). In the batch, the long utterance's
/// output gradient is zero so that parameter gradients compare, and padding rows hold garbage.
func checkPaddingInvariance(
    features: Int, shortLength: Int = 3, longLength: Int = 6, placements: [Bool] = [true, false],
    training: Bool = true, tolerance: Tolerance = Tolerance(absolute: 1e-5, relative: 1e-5),
    file: StaticString = #filePath, line: UInt = #line, make: () -> (Layer, ParameterStore)
) {
    var rng = RandomGenerator(seed: 5)
    let xShort = randomMatrix(shortLength, features, &rng)
    let xLong = randomMatrix(longLength, features, &rng)

    for shortFirst in placements {
        let (alone, aloneStore) = make()
        let (batched, batchStore) = make()
        XCTAssertEqual(Array(aloneStore.valueBuffer), Array(batchStore.valueBuffer),
                       "make() must build identical layers", file: file, line: line)

        let aloneLayout = SequenceBatch.single(frames: shortLength)
        let yAlone = alone.forward(xShort, layout: aloneLayout, training: training).array
        let outCols = yAlone.count / shortLength
        var gRng = RandomGenerator(seed: 11)
        let gShort = randomMatrix(shortLength, outCols, &gRng)
        aloneStore.zeroGradients()
        let dxAlone = alone.backward(gShort).array
        let dpAlone = Array(aloneStore.gradientBuffer)

        let frames = longLength
        let layout = SequenceBatch(frames: frames, lengths: shortFirst ? [shortLength, longLength]
                                                                       : [longLength, shortLength])
        let shortBase = shortFirst ? 0 : frames, longBase = shortFirst ? frames : 0
        let x = Matrix(rows: layout.rows, cols: features)
        x.fill(paddingGarbage)
        let g = Matrix(rows: layout.rows, cols: outCols)
        g.fill(-paddingGarbage)
        for t in 0..<longLength {
            for c in 0..<features { x[longBase + t, c] = xLong[t, c] }
            for c in 0..<outCols { g[longBase + t, c] = 0 }
        }
        for t in 0..<shortLength {
            for c in 0..<features { x[shortBase + t, c] = xShort[t, c] }
            for c in 0..<outCols { g[shortBase + t, c] = gShort[t, c] }
        }
        let y = batched.forward(x, layout: layout, training: training)
        batchStore.zeroGradients()
        let dx = batched.backward(g)
        let dp = Array(batchStore.gradientBuffer)

        let where_ = shortFirst ? "placed first" : "placed second"
        var bad = 0
        func compare(_ a: Float, _ b: Float, _ what: @autoclosure () -> String) {
            guard !tolerance.accepts(Double(a), Double(b)) else { return }
            if bad < 5 { XCTFail("\(what()) \(where_): alone \(a), in batch \(b)", file: file, line: line) }
            bad += 1
        }
        for t in 0..<shortLength {
            for c in 0..<outCols { compare(yAlone[t * outCols + c], y[shortBase + t, c], "output[\(t), \(c)]") }
            for c in 0..<features {
                compare(dxAlone[t * features + c], dx[shortBase + t, c], "input gradient[\(t), \(c)]")
            }
        }
        for i in 0..<dpAlone.count { compare(dpAlone[i], dp[i], "parameter gradient[\(i)]") }
    }
}

/// (loss(w + h) − loss(w − h)) / 2h for parameter `index` of `store`, with every write announced (or inference
/// would keep the convolutions' cached weights), and the value put back.
func centralDifference(_ store: ParameterStore, index: Int, step h: Float, loss: () -> Float) -> Float {
    let saved = store.values[index]
    store.values[index] = saved + h
    store.markValuesChanged()
    let up = loss()
    store.values[index] = saved - h
    store.markValuesChanged()
    let down = loss()
    store.values[index] = saved
    store.markValuesChanged()
    return (up - down) / (2 * h)
}

/// Checks a network's parameter gradients for the spectral loss on a padded batch of two utterances (6 and 4
/// frames) against central differences: every parameter of the input norm's scale and shift, and a sample of the
/// rest. Features are `offset + 3·N(0, 1)` log-powers. `training`: BatchNorm's batch statistics, and so the
/// model must have no dropout for the loss to be a function of the weights.
func checkMaskNetGradients(_ model: DenoiseModel, featureOffset offset: Float, training: Bool, _ label: String,
                           file: StaticString = #filePath, line: UInt = #line) {
    let bins = model.stft.bins
    let layout = SequenceBatch(frames: 6, lengths: [6, 4])
    var rng = RandomGenerator(seed: 9)
    let n = layout.rows * bins
    let x = Matrix(rows: layout.rows, cols: bins, values: (0..<n).map { _ in offset + 3 * rng.normal() })
    let noisy = Matrix(rows: layout.rows, cols: bins, values: (0..<n).map { _ in rng.uniform(0.1, 1) })
    let clean = Matrix(rows: layout.rows, cols: bins, values: (0..<n).map { _ in rng.uniform(0, 1) })
    let gradient = Matrix(rows: 0, cols: 0)
    func loss() -> Float {
        let mask = model.net.forward(x, layout: layout, training: training)
        return Loss.spectral(mask: mask, noisyMagnitude: noisy, cleanMagnitude: clean, layout: layout,
                             gradient: gradient)
    }
    let store = model.net.store
    store.zeroGradients()
    _ = loss()
    model.net.backward(gradient)
    let analytic = Array(store.gradientBuffer)
    guard let gain = store.entry(named: "input_norm.weight"), let shift = store.entry(named: "input_norm.bias") else {
        return XCTFail("\(label): no input norm parameters", file: file, line: line)
    }
    let inputNorm = Array(gain.range) + Array(shift.range)
    let sampled = Array(stride(from: 0, to: store.count, by: max(1, store.count / 30)))
    for i in inputNorm + sampled {
        let numeric = centralDifference(store, index: i, step: 1e-2, loss: loss)
        XCTAssertEqual(analytic[i], numeric, accuracy: 2e-3 + 0.05 * abs(numeric), "\(label) parameter \(i)",
                       file: file, line: line)
    }
}
