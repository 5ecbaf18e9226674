import XCTest
@testable import DenoiseKit

final class MaskNetTests: XCTestCase {
    func testDefaultModelsHaveAboutAMillionParameters() throws {
        let mlp = try MaskNet(config: MaskNetConfig(kind: .mlp))
        let cnn = try MaskNet(config: MaskNetConfig(kind: .cnn))
        // MLP: LayerNorm(1285) → 512 → 512 → 257; CNN: 257→256 k5, 256→256 k5 ×2, 256→257 k1.
        XCTAssertEqual(mlp.parameterCount, 2 * 1285 + (1285 * 512 + 512) + 2 * 512 + (512 * 512 + 512) + 2 * 512
                       + (512 * 257 + 257))
        XCTAssertEqual(cnn.parameterCount, 2 * 257 + (257 * 256 * 5 + 256) + 2 * 256
                       + 2 * (256 * 256 * 5 + 256 + 2 * 256) + (256 * 257 + 257))
        XCTAssertEqual(MaskNetConfig(kind: .cnn).lookAheadFrames, 2 + 4 + 8)
        XCTAssertEqual(MaskNetConfig(kind: .cnn).historyFrames, 2 + 4 + 8)
        XCTAssertEqual(MaskNetConfig(kind: .cnn, kernelSize: 3, causal: true).lookAheadFrames, 0)
        XCTAssertEqual(MaskNetConfig(kind: .cnn, kernelSize: 3, causal: true).historyFrames, 2 * (1 + 2 + 4))
    }

    /// Skip connections wrap every block after the first and add no parameters; a configuration written before
    /// the option existed reads as without them.
    func testResidualCNNHasTheSameParametersAndOldConfigurationsReadAsPlain() throws {
        let config = MaskNetConfig(kind: .cnn, dilations: [1, 2, 4, 8, 16], residual: true)
        let net = try MaskNet(config: config)
        XCTAssertEqual(Double(net.parameterCount), config.parameterCount)
        XCTAssertEqual(net.network.layers.filter { $0 is Residual }.count, 4)
        let json = DenoiseModel.json(MaskNetConfig(kind: .cnn))
        let old = json.replacingOccurrences(of: ",\"residual\":false", with: "")
        XCTAssertFalse(old.contains("residual"), old)
        let decoded: MaskNetConfig = try XCTUnwrap(DenoiseModel.decode(old))
        XCTAssertEqual(decoded, MaskNetConfig(kind: .cnn))
        XCTAssertEqual(DenoiseModel.decode(DenoiseModel.json(config)), config)
    }

    func testMaskLiesBetweenZeroAndOne() throws {
        for kind in MaskNetKind.allCases {
            let model = try TestSignals.tinyModel(kind)
            let bins = model.stft.bins
            let x = Matrix(rows: 12, cols: bins, values: (0..<(12 * bins)).map { Float(($0 * 37) % 23) - 11 })
            let mask = model.net.forward(x, layout: SequenceBatch(frames: 6, lengths: [6, 4]), training: false)
            XCTAssertEqual(mask.rows, 12)
            XCTAssertEqual(mask.cols, bins)
            XCTAssertTrue(mask.array.allSatisfy { $0 >= 0 && $0 <= 1 })
        }
    }

    func testInvalidConfigurationsAreRejectedWithAMessage() {
        XCTAssertThrowsError(try MaskNet(config: MaskNetConfig(kind: .cnn, kernelSize: 4))) { error in
            XCTAssertTrue("\(error)".contains("odd"))
        }
        XCTAssertThrowsError(try MaskNet(config: MaskNetConfig(kind: .mlp, hidden: 10, norm: .group, groups: 3)))
        XCTAssertThrowsError(try MaskNet(config: MaskNetConfig(kind: .mlp, dropout: 1)))
    }

    /// `backward` (the first projection folding the input norm's backward) against the plain layer-by-layer
    /// backward through the whole network: same gradients for every parameter, both kinds, both input norms,
    /// with dropout.
    func testBackwardMatchesLayerByLayerReference() throws {
        for kind in MaskNetKind.allCases {
            for inputNorm in [InputNormKind.batch, .layer, .running] {
                try checkFoldedBackward(kind, inputNorm: inputNorm)
            }
        }
    }

    private func checkFoldedBackward(_ kind: MaskNetKind, inputNorm: InputNormKind) throws {
        var gradients: [[Float]] = []
        for folded in [false, true] {
            let model = try TestSignals.tinyModel(kind, inputNorm: inputNorm, dropout: 0.2, seed: 3)
            let bins = model.stft.bins
            let layout = SequenceBatch(frames: 7, lengths: [7, 4])
            var rng = RandomGenerator(seed: 4)
            // Gains and shifts of the input norm away from 1 and 0, so that both terms of the fold count.
            let store = model.net.store
            for name in ["input_norm.weight", "input_norm.bias"] {
                guard let e = store.entry(named: name) else { return XCTFail("no \(name)") }
                for i in e.range { store.values[i] += rng.uniform(-0.5, 0.5) }
            }
            let x = Matrix(rows: layout.rows, cols: bins,
                           values: (0..<(layout.rows * bins)).map { _ in 3 * rng.normal() - 8 })
            let g = Matrix(rows: layout.rows, cols: bins, values: (0..<(layout.rows * bins)).map { _ in rng.normal() })
            _ = model.net.forward(x, layout: layout, training: true)
            model.net.store.zeroGradients()
            if folded { model.net.backward(g) } else { model.net.referenceBackward(g) }
            gradients.append(Array(model.net.store.gradientBuffer))
        }
        for (i, (reference, folded)) in zip(gradients[0], gradients[1]).enumerated() {
            XCTAssertEqual(folded, reference, accuracy: 1e-5 + 1e-4 * abs(reference),
                           "\(kind), \(inputNorm) input norm, parameter \(i)")
        }
    }

    /// The MLP runs its layers on the real frames packed together; the result must be what its layers give on
    /// the padded batch with the context stacked by hand (frames outside an utterance read as silence): the same
    /// mask on real rows, zeros on padding rows, the same dropout draws and the same parameter gradients.
    func testPackedMLPMatchesItsLayersOnThePaddedBatch() throws {
        let layout = SequenceBatch(frames: 6, lengths: [4, 6, 0, 2])
        let packed = try TestSignals.tinyModel(.mlp, dropout: 0.3, seed: 8)
        let padded = try TestSignals.tinyModel(.mlp, dropout: 0.3, seed: 8)
        let bins = packed.stft.bins, c = packed.net.config.context, width = (2 * c + 1) * bins
        var rng = RandomGenerator(seed: 6)
        let x = Matrix(rows: layout.rows, cols: bins, values: (0..<(layout.rows * bins)).map { _ in rng.normal() })
        let g = Matrix(rows: layout.rows, cols: bins, values: (0..<(layout.rows * bins)).map { _ in rng.normal() })
        fillPaddingRows(x, layout, with: paddingGarbage)
        fillPaddingRows(g, layout, with: -paddingGarbage)
        let stacked = Matrix(rows: layout.rows, cols: width)
        for b in 0..<layout.batch {
            for t in 0..<layout.lengths[b] {
                for k in -c...c {
                    let s = t + k, inside = s >= 0 && s < layout.lengths[b]
                    for f in 0..<bins {
                        stacked[b * layout.frames + t, (k + c) * bins + f] =
                            inside ? x[b * layout.frames + s, f] : MaskNet.silence
                    }
                }
            }
        }

        let mask = packed.net.forward(x, layout: layout, training: true).array
        let expected = padded.net.network.forward(stacked, layout: layout, training: true).array
        packed.net.store.zeroGradients()
        packed.net.backward(g)
        padded.net.store.zeroGradients()
        _ = padded.net.network.backward(g)
        for i in 0..<mask.count {
            XCTAssertEqual(mask[i], layout.isReal(row: i / bins) ? expected[i] : 0, accuracy: 1e-6, "mask[\(i)]")
        }
        let dPacked = Array(packed.net.store.gradientBuffer), dPadded = Array(padded.net.store.gradientBuffer)
        for i in 0..<dPacked.count {
            XCTAssertEqual(dPacked[i], dPadded[i], accuracy: 1e-5 + 1e-4 * abs(dPadded[i]), "parameter \(i)")
        }
        XCTAssertEqual(packed.net.dropouts.map(\.rng), padded.net.dropouts.map(\.rng))
    }

    /// A batch with no real frame (every utterance empty) gives an all-zero mask and no parameter gradient,
    /// through the packed MLP path and the padded CNN path alike.
    func testBatchWithoutRealFramesGivesZeroMaskAndNoGradient() throws {
        for kind in MaskNetKind.allCases {
            let model = try TestSignals.tinyModel(kind, dropout: 0.2)
            let bins = model.stft.bins, layout = SequenceBatch(frames: 3, lengths: [0, 0])
            let x = Matrix(rows: layout.rows, cols: bins)
            x.fill(paddingGarbage)
            let mask = model.net.forward(x, layout: layout, training: true)
            XCTAssertEqual(mask.rows, layout.rows)
            XCTAssertTrue(mask.array.allSatisfy { $0 == 0 }, "\(kind)")
            let g = Matrix(rows: layout.rows, cols: bins)
            g.fill(-paddingGarbage)
            model.net.store.zeroGradients()
            model.net.backward(g)
            XCTAssertTrue(model.net.store.gradientBuffer.allSatisfy { $0 == 0 }, "\(kind)")
        }
    }

    /// The whole network against central finite differences of the spectral loss.
    func testMaskNetGradientCheck() throws {
        for (kind, residual) in [(MaskNetKind.mlp, false), (.cnn, false), (.cnn, true)] {
            for norm in [NormKind.layer, .group] {
                let model = try TestSignals.tinyModel(kind, norm: norm, residual: residual, seed: 5)
                let bins = model.stft.bins
                let layout = SequenceBatch(frames: 5, lengths: [5, 3])
                var rng = RandomGenerator(seed: 9)
                let x = Matrix(rows: layout.rows, cols: bins,
                               values: (0..<(layout.rows * bins)).map { _ in rng.normal() })
                let noisy = Matrix(rows: layout.rows, cols: bins,
                                   values: (0..<(layout.rows * bins)).map { _ in rng.uniform(0.1, 1) })
                let clean = Matrix(rows: layout.rows, cols: bins,
                                   values: (0..<(layout.rows * bins)).map { _ in rng.uniform(0, 1) })
                let gradient = Matrix(rows: 0, cols: 0)
                func loss() -> Float {
                    let mask = model.net.forward(x, layout: layout, training: false)
                    return Loss.spectral(mask: mask, noisyMagnitude: noisy, cleanMagnitude: clean, layout: layout,
                                         gradient: gradient)
                }
                let store = model.net.store
                store.zeroGradients()
                _ = loss()
                model.net.backward(gradient)
                let analytic = Array(store.gradientBuffer)
                // Sample parameters across the store; float32 differences need a generous step.
                for i in stride(from: 0, to: store.count, by: max(1, store.count / 40)) {
                    let numeric = centralDifference(store, index: i, step: 1e-2, loss: loss)
                    XCTAssertEqual(analytic[i], numeric, accuracy: 2e-3 + 0.05 * abs(numeric),
                                   "\(kind) \(norm) residual \(residual) parameter \(i)")
                }
            }
        }
    }
}
