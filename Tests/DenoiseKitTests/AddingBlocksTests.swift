import XCTest
@testable import DenoiseKit

/// `DenoiseModel.addingBlocks`: a trained residual CNN grown by blocks that start close to the identity.
final class AddingBlocksTests: XCTestCase {
    /// The grown model keeps every tensor, gains one block's parameters per dilation, adds a centred block's dilation
    /// to the look-ahead (a causal one's to the history only), and gives nearly the same mask and speech logits:
    /// exactly the same with the new gains at 0.
    func testAddedBlocksStartCloseToTheIdentity() throws {
        for causal in [false, true] {
            for inputNorm in [InputNormKind.batch, .running] {
                var config = try TestSignals.randomizedModel(.cnn, causal: causal, inputNorm: inputNorm).net.config
                config.speechHead = true
                let model = try DenoiseModel(config: config, stft: STFTConfig(nFFT: 64, hop: 32), seed: 4)
                var rng = RandomGenerator(seed: 21)
                TestSignals.randomizeWeights(model.net, rng: &rng)
                model.maskExponent = 1.3
                let grown = try model.addingBlocks(dilations: [1, 3], seed: 2)
                let label = "causal \(causal), input norm \(inputNorm)"

                XCTAssertEqual(grown.net.config.dilations, config.dilations + [1, 3], label)
                let block = config.hidden * config.hidden * config.kernelSize + config.hidden + 2 * config.hidden
                XCTAssertEqual(grown.net.parameterCount, model.net.parameterCount + 2 * block, label)
                XCTAssertEqual(grown.net.config.lookAheadFrames, config.lookAheadFrames + (causal ? 0 : 1 + 3), label)
                XCTAssertEqual(grown.net.config.historyFrames,
                               config.historyFrames + (1 + 3) * (causal ? 2 : 1), label)
                XCTAssertEqual(grown.maskExponent, 1.3)
                for entry in model.net.store.entries {
                    let copy = try XCTUnwrap(grown.net.store.entry(named: entry.name), entry.name)
                    XCTAssertEqual(Array(grown.net.store.valueBuffer[copy.range]),
                                   Array(model.net.store.valueBuffer[entry.range]), entry.name)
                }
                let newGain = try XCTUnwrap(grown.net.store.entry(named: "block3.norm.weight"))
                XCTAssertTrue(grown.net.store.valueBuffer[newGain.range].allSatisfy { $0 == 0.01 })
                let newConv = try XCTUnwrap(grown.net.store.entry(named: "block3.conv.weight"))
                XCTAssertTrue(grown.net.store.valueBuffer[newConv.range].contains { $0 != 0 },
                              "the new convolution is initialised, so training can move it once the gain moves")

                let bins = model.stft.bins
                let layout = SequenceBatch(frames: 9, lengths: [9, 6])
                var inputs = RandomGenerator(seed: 8)
                let x = Matrix(rows: layout.rows, cols: bins,
                               values: (0..<(layout.rows * bins)).map { _ in inputs.normal() * 3 - 8 })
                let mask = model.net.forward(x, layout: layout, training: false).array
                let logits = try XCTUnwrap(model.net.speechLogits).array
                let grownMask = grown.net.forward(x, layout: layout, training: false).array
                let grownLogits = try XCTUnwrap(grown.net.speechLogits).array
                XCTAssertNotEqual(grownMask, mask, "the new blocks take part")
                XCTAssertLessThan(zip(grownMask, mask).map { abs($0 - $1) }.max()!, 0.02, label)
                XCTAssertLessThan(zip(grownLogits, logits).map { abs($0 - $1) }.max()!, 0.05, label)
                for block in 2...3 {
                    let gain = try XCTUnwrap(grown.net.store.entry(named: "block\(block).norm.weight"))
                    (grown.net.store.values + gain.offset).update(repeating: 0, count: gain.count)
                }
                grown.net.store.markValuesChanged()
                XCTAssertEqual(grown.net.forward(x, layout: layout, training: false).array, mask, label)
                XCTAssertEqual(try XCTUnwrap(grown.net.speechLogits).array, logits, label)
            }
        }
    }

    /// Training can move a new block: the loss's gradient reaches its norm gain and its convolution. (At a gain of
    /// 0 the ReLU after the norm would see only zeros and neither would move.)
    func testNewBlocksReceiveGradient() throws {
        let model = try TestSignals.randomizedModel(.cnn, causal: false, inputNorm: .batch, dropout: 0)
        let grown = try model.addingBlocks(dilations: [2], seed: 5)
        let bins = grown.stft.bins
        let layout = SequenceBatch(frames: 7, lengths: [7, 5])
        var rng = RandomGenerator(seed: 13)
        let x = Matrix(rows: layout.rows, cols: bins, values: (0..<(layout.rows * bins)).map { _ in rng.normal() })
        let count = layout.rows * bins
        let noisy = Matrix(rows: layout.rows, cols: bins, values: (0..<count).map { _ in rng.uniform(0.1, 1) })
        let clean = Matrix(rows: layout.rows, cols: bins, values: (0..<count).map { _ in rng.uniform(0, 1) })
        let store = grown.net.store
        store.zeroGradients()
        let gradient = Matrix(rows: 0, cols: 0)
        let mask = grown.net.forward(x, layout: layout, training: true)
        _ = Loss.spectral(mask: mask, noisyMagnitude: noisy, cleanMagnitude: clean, layout: layout, gradient: gradient)
        grown.net.backward(gradient)
        for name in ["block2.norm.weight", "block2.norm.bias", "block2.conv.weight"] {
            let entry = try XCTUnwrap(store.entry(named: name))
            XCTAssertGreaterThan(store.gradientBuffer[entry.range].reduce(0) { $0 + $1 * $1 }, 0, name)
        }
    }

    /// Without skip connections a block cannot start as the identity, and an MLP has no blocks: both are refused.
    func testNetworksWithoutSkipConnectionsAreRefused() throws {
        for model in [try TestSignals.tinyModel(.cnn), try TestSignals.tinyModel(.mlp)] {
            XCTAssertThrowsError(try model.addingBlocks(dilations: [1])) { error in
                XCTAssertTrue("\(error)".contains("skip connections"), "\(error)")
            }
        }
    }
}
