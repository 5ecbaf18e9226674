import XCTest
@testable import DenoiseKit

// Linear, Conv1d, activations, Dropout and Sequential: gradient checks against Double references, padding
// invariance, golden values, and two tiny networks that must learn with plain SGD.

/// Two utterances padded to 3 frames, the second 2 frames long.
private let paddedLayout = SequenceBatch(frames: 3, lengths: [3, 2])

// MARK: - Double references

private func linearReference(_ layout: SequenceBatch, inFeatures: Int, outFeatures: Int,
                             name: String) -> ReferenceLayer {
    { x, p in
        let w = p["\(name).weight"]!, b = p["\(name).bias"]!
        var y = [Double](repeating: 0, count: layout.rows * outFeatures)
        for r in 0..<layout.rows where layout.isReal(row: r) {
            for o in 0..<outFeatures {
                var s = b[o]
                for i in 0..<inFeatures { s += w[o * inFeatures + i] * x[r * inFeatures + i] }
                y[r * outFeatures + o] = s
            }
        }
        return y
    }
}

/// Direct "same" convolution over each utterance's real frames, PyTorch weight layout [out × in × k].
private func convolutionReference(_ layout: SequenceBatch, inChannels cin: Int, outChannels cout: Int,
                                  kernelSize k: Int, dilation d: Int, causal: Bool = false,
                                  name: String) -> ReferenceLayer {
    { x, p in
        let w = p["\(name).weight"]!, bias = p["\(name).bias"]!
        var y = [Double](repeating: 0, count: layout.rows * cout)
        for b in 0..<layout.batch {
            let base = b * layout.frames, length = layout.lengths[b]
            for t in 0..<length {
                for o in 0..<cout {
                    var s = bias[o]
                    for c in 0..<cin {
                        for j in 0..<k {
                            let source = t + (j - (causal ? k - 1 : (k - 1) / 2)) * d
                            guard source >= 0 && source < length else { continue }
                            s += w[(o * cin + c) * k + j] * x[(base + source) * cin + c]
                        }
                    }
                    y[(base + t) * cout + o] = s
                }
            }
        }
        return y
    }
}

private func elementwiseReference(_ layout: SequenceBatch, features: Int,
                                  _ f: @escaping (Double) -> Double) -> ReferenceLayer {
    { x, _ in
        var y = [Double](repeating: 0, count: x.count)
        for r in 0..<layout.rows where layout.isReal(row: r) {
            for c in 0..<features { y[r * features + c] = f(x[r * features + c]) }
        }
        return y
    }
}

final class LayerTests: XCTestCase {
    // MARK: Linear

    func testLinearGradientCheck() {
        var rng = RandomGenerator(seed: 1)
        let store = ParameterStore()
        let linear = Linear(4, 3, store: store, name: "fc", rng: &rng)
        checkLayer(linear, store: store, input: randomMatrix(paddedLayout.rows, 4, &rng), layout: paddedLayout,
                   reference: linearReference(paddedLayout, inFeatures: 4, outFeatures: 3, name: "fc"))
    }

    /// A skip connection around a square Linear: y = x + Wx + b, checked against that reference and finite
    /// differences (the input gradient carries the identity path).
    func testResidualGradientCheck() {
        var rng = RandomGenerator(seed: 6)
        let store = ParameterStore()
        let residual = Residual(Linear(4, 4, store: store, name: "fc", rng: &rng))
        let linear = linearReference(paddedLayout, inFeatures: 4, outFeatures: 4, name: "fc")
        checkLayer(residual, store: store, input: randomMatrix(paddedLayout.rows, 4, &rng), layout: paddedLayout,
                   reference: { x, p in
                       let y = linear(x, p)
                       return (0..<y.count).map { paddedLayout.isReal(row: $0 / 4) ? x[$0] + y[$0] : 0 }
                   })
    }

    func testLinearRegistersPyTorchShapedParametersInitialisedWithinOneOverSqrtFanIn() {
        var rng = RandomGenerator(seed: 2)
        let store = ParameterStore()
        let linear = Linear(100, 30, store: store, name: "fc", rng: &rng)
        XCTAssertEqual(store.entry(named: "fc.weight")?.shape, [30, 100])
        XCTAssertEqual(store.entry(named: "fc.weight")?.decays, true)
        XCTAssertEqual(store.entry(named: "fc.bias")?.shape, [30])
        XCTAssertEqual(store.entry(named: "fc.bias")?.decays, false)
        let w = linear.weight.array
        XCTAssertTrue(w.allSatisfy { abs($0) <= 0.1 })
        // Uniform on ±0.1: the extremes are nearly reached and the mean is near zero.
        XCTAssertGreaterThan(w.map(abs).max() ?? 0, 0.099)
        XCTAssertEqual(w.reduce(0, +) / Float(w.count), 0, accuracy: 0.005)
        XCTAssertTrue(linear.bias.array.allSatisfy { abs($0) <= 0.1 })
    }

    func testLinearIgnoresPaddedFrames() {
        checkPaddingInvariance(features: 4) {
            var rng = RandomGenerator(seed: 3)
            let store = ParameterStore()
            return (Linear(4, 3, store: store, name: "fc", rng: &rng), store)
        }
    }

    // MARK: Conv1d

    func testConv1dGradientCheck() {
        var rng = RandomGenerator(seed: 4)
        let layout = SequenceBatch(frames: 5, lengths: [5, 3])
        for (k, d) in [(3, 1), (3, 2), (5, 1)] {
            let store = ParameterStore()
            let conv = Conv1d(2, 3, kernelSize: k, dilation: d, store: store, name: "conv", rng: &rng)
            checkLayer(conv, store: store, input: randomMatrix(layout.rows, 2, &rng), layout: layout,
                       reference: convolutionReference(layout, inChannels: 2, outChannels: 3, kernelSize: k,
                                                       dilation: d, name: "conv"))
        }
    }

    /// Taps that reach past both ends of a short utterance (offsets ±4, ±8 on 3 real frames) and a 1×1
    /// convolution: the per-tap products must skip them without reading padding or the next utterance.
    func testConv1dGradientCheckWithTapsReachingPastShortUtterances() {
        var rng = RandomGenerator(seed: 41)
        let layout = SequenceBatch(frames: 6, lengths: [3, 6, 1])
        for (k, d) in [(5, 4), (1, 1)] {
            let store = ParameterStore()
            let conv = Conv1d(3, 2, kernelSize: k, dilation: d, store: store, name: "conv", rng: &rng)
            checkLayer(conv, store: store, input: randomMatrix(layout.rows, 3, &rng), layout: layout,
                       reference: convolutionReference(layout, inChannels: 3, outChannels: 2, kernelSize: k,
                                                       dilation: d, name: "conv"))
        }
    }

    /// Causal taps reach only back in time, with even kernels allowed; padding rows and later frames never enter.
    func testCausalConv1dGradientCheck() {
        var rng = RandomGenerator(seed: 42)
        let layout = SequenceBatch(frames: 6, lengths: [6, 2])
        for (k, d) in [(3, 1), (2, 3), (3, 2)] {
            let store = ParameterStore()
            let conv = Conv1d(2, 3, kernelSize: k, dilation: d, causal: true, store: store, name: "conv", rng: &rng)
            checkLayer(conv, store: store, input: randomMatrix(layout.rows, 2, &rng), layout: layout,
                       reference: convolutionReference(layout, inChannels: 2, outChannels: 3, kernelSize: k,
                                                       dilation: d, causal: true, name: "conv"))
        }
    }

    func testCausalConv1dSeesNoLaterFrame() {
        // By hand: taps [1, 10, 100] at offsets −4, −2, 0 on input 1…5: y[t] = x[t−4] + 10·x[t−2] + 100·x[t].
        var rng = RandomGenerator(seed: 6)
        let store = ParameterStore()
        let conv = Conv1d(1, 1, kernelSize: 3, dilation: 2, causal: true, store: store, name: "c", rng: &rng)
        conv.weight.values.update(from: [1, 10, 100], count: 3)
        conv.bias.values[0] = 0
        store.markValuesChanged()
        let y = conv.forward(Matrix(rows: 5, cols: 1, values: [1, 2, 3, 4, 5]), layout: .single(frames: 5),
                             training: false)
        XCTAssertEqual(y.array, [100, 200, 310, 420, 531])
    }

    func testConv1dDilationMatchesDirectConvolution() {
        // By hand: one channel, taps [1, 10, 100] at offsets −2, 0, +2, input 1…5, zeros beyond the ends:
        // y[t] = x[t−2] + 10·x[t] + 100·x[t+2].
        var rng = RandomGenerator(seed: 5)
        let store = ParameterStore()
        let conv = Conv1d(1, 1, kernelSize: 3, dilation: 2, store: store, name: "c", rng: &rng)
        conv.weight.values.update(from: [1, 10, 100], count: 3)
        conv.bias.values[0] = 0
        store.markValuesChanged()
        let y = conv.forward(Matrix(rows: 5, cols: 1, values: [1, 2, 3, 4, 5]), layout: .single(frames: 5),
                             training: false)
        XCTAssertEqual(y.array, [310, 420, 531, 42, 53])

        // Larger: several channels, dilation 3, an empty utterance, against the direct Double convolution.
        let layout = SequenceBatch(frames: 9, lengths: [9, 4, 0])
        let bigStore = ParameterStore()
        let big = Conv1d(3, 4, kernelSize: 5, dilation: 3, store: bigStore, name: "big", rng: &rng)
        let x = randomMatrix(layout.rows, 3, &rng)
        let expected = convolutionReference(layout, inChannels: 3, outChannels: 4, kernelSize: 5, dilation: 3,
                                            name: "big")(x.array.map(Double.init),
                                                         ["big.weight": big.weight.array.map(Double.init),
                                                          "big.bias": big.bias.array.map(Double.init)])
        let out = big.forward(x, layout: layout, training: false).array
        for i in 0..<out.count { XCTAssertEqual(Double(out[i]), expected[i], accuracy: 1e-5) }
    }

    func testConv1dInferenceFollowsWeightChanges() {
        // Inference keeps its reordered weights between calls; every way weights change must reach it.
        var rng = RandomGenerator(seed: 7)
        let store = ParameterStore()
        let conv = Conv1d(3, 2, kernelSize: 3, dilation: 2, store: store, name: "conv", rng: &rng)
        let layout = SequenceBatch.single(frames: 6)
        let x = randomMatrix(layout.rows, 3, &rng)
        let before = conv.forward(x, layout: layout, training: false).array
        XCTAssertEqual(conv.forward(x, layout: layout, training: false).array, before)

        // By hand, announced: the output follows.
        conv.weight.values.update(repeating: 0, count: conv.weight.count)
        store.markValuesChanged()
        let zeroed = conv.forward(x, layout: layout, training: false).array
        for t in 0..<6 { for o in 0..<2 { XCTAssertEqual(zeroed[t * 2 + o], conv.bias.values[o]) } }

        // An optimizer step: inference agrees with a training forward on the new weights.
        _ = conv.forward(x, layout: layout, training: true)
        store.gradients.update(repeating: 1, count: store.count)
        SGD(learningRate: 0.1).step(store)
        let inference = conv.forward(x, layout: layout, training: false).array
        XCTAssertEqual(inference, conv.forward(x, layout: layout, training: true).array)
        XCTAssertNotEqual(inference, zeroed)
    }

    func testConv1dRegistersPyTorchShapedParameters() {
        var rng = RandomGenerator(seed: 6)
        let store = ParameterStore()
        let conv = Conv1d(4, 6, kernelSize: 3, store: store, name: "conv", rng: &rng)
        XCTAssertEqual(store.entry(named: "conv.weight")?.shape, [6, 4, 3])
        XCTAssertEqual(store.entry(named: "conv.weight")?.decays, true)
        XCTAssertEqual(store.entry(named: "conv.bias")?.decays, false)
        let bound = 1 / Float(12).squareRoot()
        XCTAssertTrue((conv.weight.array + conv.bias.array).allSatisfy { abs($0) <= bound })
    }

    func testConv1dIgnoresPaddedFramesAndNeighbouringUtterances() {
        checkPaddingInvariance(features: 2, shortLength: 4, longLength: 7) {
            var rng = RandomGenerator(seed: 7)
            let store = ParameterStore()
            return (Conv1d(2, 3, kernelSize: 3, dilation: 2, store: store, name: "conv", rng: &rng), store)
        }
    }

    // MARK: Folding the input normalisation's backward into the first projection

    /// LayerNorm or BatchNorm (training, batch statistics) → `make()` (a Linear or Conv1d) on a padded batch with
    /// garbage in the padding: the folded backward must give the same parameter gradients as the layer's backward
    /// followed by the norm's.
    private func checkFoldedInputNorm(features: Int, layout: SequenceBatch,
                                      make: (ParameterStore, inout RandomGenerator) -> InputNormFolding,
                                      file: StaticString = #filePath, line: UInt = #line) {
        for batchNorm in [false, true] {
            checkFoldedInputNorm(features: features, layout: layout, batchNorm: batchNorm, make: make,
                                 file: file, line: line)
        }
    }

    private func checkFoldedInputNorm(features: Int, layout: SequenceBatch, batchNorm: Bool,
                                      make: (ParameterStore, inout RandomGenerator) -> InputNormFolding,
                                      file: StaticString, line: UInt) {
        var gradients: [[Float]] = []
        for folded in [false, true] {
            var rng = RandomGenerator(seed: 17)
            let store = ParameterStore()
            let norm: FoldableNormalization = batchNorm
                ? BatchNorm(features, store: store, name: "norm") : LayerNorm(features, store: store, name: "norm")
            let layer = make(store, &rng)
            for i in 0..<(2 * features) { store.values[i] = (i < features ? 1 : 0) + rng.uniform(-0.5, 0.5) }
            let x = randomMatrix(layout.rows, features, &rng, scale: 3)
            fillPaddingRows(x, layout, with: paddingGarbage)
            let y = layer.forward(norm.forward(x, layout: layout, training: true), layout: layout, training: true)
            let g = randomMatrix(y.rows, y.cols, &rng)
            fillPaddingRows(g, layout, with: -paddingGarbage)
            store.zeroGradients()
            store.gradients[0] = 0.25  // gradients accumulate on top of what is there
            if folded {
                layer.backwardFoldingInputNorm(g, norm: norm)
            } else {
                _ = norm.backward(layer.backward(g))
            }
            gradients.append(Array(store.gradientBuffer))
        }
        let tolerance = Tolerance(absolute: 1e-5, relative: 1e-4)
        var bad = 0
        for (i, (reference, folded)) in zip(gradients[0], gradients[1]).enumerated()
        where !tolerance.accepts(Double(reference), Double(folded)) {
            if bad < 5 {
                XCTFail("\(batchNorm ? "BatchNorm" : "LayerNorm") gradient[\(i)]: layer by layer \(reference), "
                            + "folded \(folded)", file: file, line: line)
            }
            bad += 1
        }
    }

    func testLinearFoldedInputNormBackwardMatchesLayerByLayer() {
        checkFoldedInputNorm(features: 11, layout: SequenceBatch(frames: 6, lengths: [6, 3, 0, 5])) { store, rng in
            Linear(11, 5, store: store, name: "fc", rng: &rng)
        }
    }

    func testConv1dFoldedInputNormBackwardMatchesLayerByLayer() {
        let layout = SequenceBatch(frames: 9, lengths: [9, 2, 0, 6])
        for (k, d) in [(5, 2), (3, 1), (1, 1)] {
            checkFoldedInputNorm(features: 10, layout: layout) { store, rng in
                Conv1d(10, 4, kernelSize: k, dilation: d, store: store, name: "conv", rng: &rng)
            }
        }
    }

    // MARK: Activations

    func testReLUGradientCheck() {
        var rng = RandomGenerator(seed: 8)
        checkLayer(ReLU(), store: ParameterStore(), input: randomMatrix(paddedLayout.rows, 4, &rng),
                   layout: paddedLayout, reference: elementwiseReference(paddedLayout, features: 4) { max($0, 0) })
    }

    func testLeakyReLUGradientCheck() {
        var rng = RandomGenerator(seed: 9)
        checkLayer(LeakyReLU(slope: 0.2), store: ParameterStore(), input: randomMatrix(paddedLayout.rows, 4, &rng),
                   layout: paddedLayout,
                   reference: elementwiseReference(paddedLayout, features: 4) { $0 > 0 ? $0 : 0.2 * $0 })
    }

    func testSigmoidGradientCheck() {
        var rng = RandomGenerator(seed: 10)
        checkLayer(Sigmoid(), store: ParameterStore(), input: randomMatrix(paddedLayout.rows, 4, &rng, scale: 4),
                   layout: paddedLayout,
                   reference: elementwiseReference(paddedLayout, features: 4) { 1 / (1 + exp(-$0)) })
    }

    func testTanhGradientCheck() {
        var rng = RandomGenerator(seed: 11)
        checkLayer(Tanh(), store: ParameterStore(), input: randomMatrix(paddedLayout.rows, 4, &rng, scale: 2),
                   layout: paddedLayout, reference: elementwiseReference(paddedLayout, features: 4) { tanh($0) })
    }

    func testSigmoidSaturatesWithoutOverflow() {
        let y = Sigmoid().forward(Matrix(rows: 1, cols: 3, values: [-200, 0, 200]), layout: .single(frames: 1),
                                  training: false)
        XCTAssertEqual(y.array, [0, 0.5, 1])
    }

    /// The vector path (eight at a time) against the Double formula over the whole useful range and beyond,
    /// including the clamped saturation.
    func testSigmoidVectorPathIsAccurateAcrossItsRange() {
        let xs = (0..<801).map { Float($0 - 400) / 4 }  // −100 … 100 in steps of ¼
        let y = Sigmoid().forward(Matrix(rows: 1, cols: xs.count, values: xs), layout: .single(frames: 1),
                                  training: false)
        for (x, value) in zip(xs, y.array) {
            let exact = 1 / (1 + exp(-Double(x)))
            XCTAssertEqual(Double(value), exact, accuracy: 2e-7 + 1e-6 * exact, "sigmoid(\(x))")
        }
    }

    func testActivationsIgnorePaddedFrames() {
        let makers: [() -> Layer] = [{ ReLU() }, { LeakyReLU() }, { Sigmoid() }, { Tanh() }]
        for make in makers { checkPaddingInvariance(features: 3) { (make(), ParameterStore()) } }
    }

    // MARK: Dropout

    func testDropoutGoldenScaling() {
        let n = 100_000
        let dropout = Dropout(p: 0.4, seed: 42)
        let x = Matrix(rows: n / 10, cols: 10)
        x.fill(1.8033)
        let layout = SequenceBatch.single(frames: n / 10)
        let y = dropout.forward(x, layout: layout, training: true).array
        // Kept elements become 1.8033 / 0.6 = 3.0055, the others 0.
        XCTAssertTrue(y.allSatisfy { $0 == 0 || abs($0 - 3.0055) < 1e-4 })
        let kept = Double(y.filter { $0 != 0 }.count) / Double(n)
        XCTAssertEqual(kept, 0.6, accuracy: 0.01)

        // Deterministic per seed; another seed gives another mask.
        let again = Dropout(p: 0.4, seed: 42).forward(x, layout: layout, training: true).array
        XCTAssertEqual(again, y)
        let other = Dropout(p: 0.4, seed: 43).forward(x, layout: layout, training: true).array
        XCTAssertNotEqual(other, y)

        // Identity at inference, and its gradient too.
        let small = Matrix(rows: 2, cols: 3, values: [1, -2, 3, -4, 5, -6])
        XCTAssertEqual(dropout.forward(small, layout: .single(frames: 2), training: false).array, small.array)
        XCTAssertEqual(dropout.backward(small).array, small.array)
    }

    /// The mask is defined by the generator: element i of the real rows, in row order, is kept exactly when the
    /// i-th `uniform()` draw of a generator with the layer's seed is ≥ p (so checkpoints and seeds keep their
    /// meaning). p = 0.5 puts the boundary draw u = 2²³ exactly on p.
    func testDropoutKeepsExactlyTheElementsWhoseUniformDrawIsAtLeastP() {
        let layout = SequenceBatch(frames: 40, lengths: [40, 25])
        for p: Float in [0.3, 0.5] {
            let dropout = Dropout(p: p, seed: 7)
            var draws = RandomGenerator(seed: 7)
            let x = Matrix(rows: layout.rows, cols: 13)
            x.fill(1)
            let y = dropout.forward(x, layout: layout, training: true)
            for r in 0..<layout.rows where layout.isReal(row: r) {
                for c in 0..<13 {
                    let expected: Float = draws.uniform() >= p ? 1 / (1 - p) : 0
                    XCTAssertEqual(y[r, c], expected, "p \(p), row \(r), column \(c)")
                }
            }
            XCTAssertEqual(dropout.rng, draws, "one draw per real element, none for padding")
        }
    }

    func testDropoutGradientCheck() {
        var rng = RandomGenerator(seed: 12)
        let dropout = Dropout(p: 0.5, seed: 1)
        // The same mask for every forward of the finite differences.
        checkLayer(dropout, store: ParameterStore(), input: randomMatrix(paddedLayout.rows, 6, &rng),
                   layout: paddedLayout, beforeForward: { dropout.rng = RandomGenerator(seed: 77) })
    }

    func testDropoutIgnoresPaddedFrames() {
        // Random numbers are drawn for real rows only, so an utterance first in its batch keeps its mask.
        checkPaddingInvariance(features: 5, placements: [true]) { (Dropout(p: 0.3, seed: 9), ParameterStore()) }
        checkPaddingInvariance(features: 5, training: false) { (Dropout(p: 0.3, seed: 9), ParameterStore()) }
    }

    // MARK: Sequential

    func testSequentialGradientCheck() {
        var rng = RandomGenerator(seed: 13)
        let store = ParameterStore()
        let net = Sequential([
            Linear(3, 5, store: store, name: "a", rng: &rng), Tanh(),
            Linear(5, 2, store: store, name: "b", rng: &rng), Sigmoid(),
        ])
        checkLayer(net, store: store, input: randomMatrix(paddedLayout.rows, 3, &rng), layout: paddedLayout)
    }

    func testSequentialIgnoresPaddedFrames() {
        checkPaddingInvariance(features: 2, shortLength: 3, longLength: 5) {
            var rng = RandomGenerator(seed: 14)
            let store = ParameterStore()
            let net = Sequential([
                Conv1d(2, 4, kernelSize: 3, store: store, name: "c1", rng: &rng),
                GroupNorm(groups: 2, channels: 4, store: store, name: "gn"), ReLU(),
                Linear(4, 4, store: store, name: "fc", rng: &rng), LayerNorm(4, store: store, name: "ln"),
                Conv1d(4, 1, kernelSize: 3, dilation: 2, store: store, name: "c2", rng: &rng), Sigmoid(),
            ])
            return (net, store)
        }
    }

    // MARK: Tiny networks that must learn

    /// values −= lr · gradients, over the whole store.
    private func sgdStep(_ store: ParameterStore, lr: Float) {
        for i in 0..<store.count { store.values[i] -= lr * store.gradients[i] }
    }

    /// XOR of the signs of two inputs (4 corners of ±1, jittered), sigmoid output, MSE; returns the
    /// (initial, final) loss, the final one measured at inference.
    private func trainXOR(_ makeNet: (ParameterStore, inout RandomGenerator) -> Layer, steps: Int,
                          lr: Float) -> (Float, Float) {
        var rng = RandomGenerator(seed: 21)
        let store = ParameterStore()
        let net = makeNet(store, &rng)
        let rows = 32
        let x = Matrix(rows: rows, cols: 2), target = Matrix(rows: rows, cols: 1)
        for i in 0..<rows {
            let a: Float = i & 1 == 0 ? -1 : 1, b: Float = i & 2 == 0 ? -1 : 1
            x[i, 0] = a + rng.uniform(-0.1, 0.1)
            x[i, 1] = b + rng.uniform(-0.1, 0.1)
            target[i, 0] = a * b < 0 ? 1 : 0
        }
        let layout = SequenceBatch.single(frames: rows), gradient = Matrix(rows: 0, cols: 0)
        func loss(training: Bool) -> Float {
            Loss.maskedMSE(prediction: net.forward(x, layout: layout, training: training), target: target,
                           layout: layout, gradient: gradient)
        }
        let initial = loss(training: false)
        for _ in 0..<steps {
            store.zeroGradients()
            _ = loss(training: true)
            _ = net.backward(gradient)
            sgdStep(store, lr: lr)
        }
        return (initial, loss(training: false))
    }

    func testMLPLearnsXOR() {
        let (initial, final) = trainXOR({ store, rng in
            Sequential([Linear(2, 8, store: store, name: "fc1", rng: &rng), ReLU(),
                        Linear(8, 1, store: store, name: "fc2", rng: &rng), Sigmoid()])
        }, steps: 600, lr: 1.0)
        XCTAssertGreaterThan(initial, 0.15)
        XCTAssertLessThan(final, 0.02)
    }

    func testMLPWithDropoutAndLayerNormLearnsXOR() {
        let (initial, final) = trainXOR({ store, rng in
            Sequential([Linear(2, 16, store: store, name: "fc1", rng: &rng), LayerNorm(16, store: store, name: "ln"),
                        ReLU(), Dropout(p: 0.1, seed: 3),
                        Linear(16, 1, store: store, name: "fc2", rng: &rng), Sigmoid()])
        }, steps: 600, lr: 0.5)
        XCTAssertGreaterThan(initial, 0.15)
        XCTAssertLessThan(final, 0.03)
    }

    func testCNNLearnsToDelayAndSmoothASequence() {
        // Target y[t] = (x[t−1] + x[t−2]) / 2 within each utterance: needs the receptive field of both layers.
        var rng = RandomGenerator(seed: 31)
        let store = ParameterStore()
        let net = Sequential([
            Conv1d(1, 8, kernelSize: 3, store: store, name: "c1", rng: &rng),
            GroupNorm(groups: 2, channels: 8, store: store, name: "gn"), ReLU(),
            Conv1d(8, 1, kernelSize: 3, dilation: 2, store: store, name: "c2", rng: &rng),
        ])
        let layout = SequenceBatch(frames: 20, lengths: [20, 14, 17])
        let x = Matrix(rows: layout.rows, cols: 1), target = Matrix(rows: layout.rows, cols: 1)
        for b in 0..<layout.batch {
            let base = b * layout.frames
            for t in 0..<layout.lengths[b] { x[base + t, 0] = rng.normal() }
            for t in 0..<layout.lengths[b] {
                target[base + t, 0] = 0.5 * ((t >= 1 ? x[base + t - 1, 0] : 0) + (t >= 2 ? x[base + t - 2, 0] : 0))
            }
        }
        let gradient = Matrix(rows: 0, cols: 0)
        func loss() -> Float {
            Loss.maskedMSE(prediction: net.forward(x, layout: layout, training: true), target: target,
                           layout: layout, gradient: gradient)
        }
        let initial = loss()
        for _ in 0..<800 {
            store.zeroGradients()
            _ = loss()
            _ = net.backward(gradient)
            sgdStep(store, lr: 0.05)
        }
        let final = loss()
        XCTAssertGreaterThan(initial, 0.2)
        XCTAssertLessThan(final, 0.02)
    }
}
