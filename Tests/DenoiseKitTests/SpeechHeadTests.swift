import XCTest
@testable import DenoiseKit

/// The speech-probability head: its label, its loss, its score, the network's second output and the model file.
final class SpeechHeadTests: XCTestCase {
    // MARK: - Label

    /// Tone bursts at −12, −40 and −55 dBFS between stretches of digital silence and of −75 dBFS noise: the bursts
    /// within 40 dB of the loudest are speech, the quieter one, the noise and the silence are not.
    func testFrameActivityMarksBurstsWithin40dBOfTheLoudest() {
        let config = STFTConfig(nFFT: 512, hop: 256)
        let second = 16000
        var rng = RandomGenerator(seed: 1)
        func tone(_ dbfsMeanSquare: Double) -> [Float] {
            let amplitude = Float((2 * pow(10, dbfsMeanSquare / 10)).squareRoot())  // a sine's mean square is A²/2
            return (0..<second).map { amplitude * sin(2 * Float.pi * 440 * Float($0) / 16000) }
        }
        // Uniform noise in ±a has mean square a²/3.
        let noiseAmplitude = Float((3 * pow(10, -75.0 / 10)).squareRoot())
        let segments: [(samples: [Float], speech: Bool)] = [
            ([Float](repeating: 0, count: second), false), (tone(-12), true),
            ((0..<second).map { _ in rng.uniform(-noiseAmplitude, noiseAmplitude) }, false), (tone(-40), true),
            ([Float](repeating: 0, count: second), false), (tone(-55), false),
            ([Float](repeating: 0, count: second), false),
        ]
        let signal = segments.flatMap(\.samples)
        let labels = SpeechActivity.labels(clean: signal, config: config)
        XCTAssertEqual(labels.count, STFT.frameCount(forSamples: signal.count, config: config))
        // Frame t covers signal samples t·hop − 256 ..< t·hop + 256; judge the frames wholly inside a segment.
        for (index, segment) in segments.enumerated() {
            let start = index * second, end = start + second
            for t in labels.indices where t * 256 - 256 >= start && t * 256 + 256 <= end {
                XCTAssertEqual(labels[t], segment.speech ? 1 : 0, "segment \(index), frame \(t)")
            }
        }
        // The level of a steady tone reads as its mean square.
        let levels = SpeechActivity.frameLevels(STFT(config: config).analyze(tone(-12)), config: config)
        XCTAssertEqual(levels[10], -12, accuracy: 0.1)
    }

    func testSilenceAndNearSilenceHoldNoSpeech() {
        let config = STFTConfig(nFFT: 64, hop: 32)
        XCTAssertEqual(Set(SpeechActivity.labels(clean: [Float](repeating: 0, count: 4000), config: config)), [0])
        let faint = (0..<4000).map { Float(1e-4) * sin(Float($0) * 0.3) }  // about −83 dBFS: below the floor
        XCTAssertEqual(Set(SpeechActivity.labels(clean: faint, config: config)), [0])
        XCTAssertEqual(SpeechActivity.labels(frameLevels: []), [])
    }

    // MARK: - Loss

    /// Golden values from the closed form in Double (as PyTorch's BCEWithLogitsLoss).
    func testBinaryCrossEntropyMatchesGoldenValues() {
        let layout = SequenceBatch(frames: 3, lengths: [3, 1])
        // Real rows 0, 1, 2 and 3; rows 4 and 5 are padding and must not count.
        let logits = Matrix(rows: 6, cols: 1, values: [2, -1, 0.5, -3, 50, -50])
        let targets = Matrix(rows: 6, cols: 1, values: [1, 0, 0, 1, 0, 1])
        let gradient = Matrix(rows: 0, cols: 0)
        let loss = Loss.binaryCrossEntropy(logits: logits, targets: targets, layout: layout, weight: 2,
                                           gradient: gradient)
        XCTAssertEqual(loss, 2 * 1.1157135, accuracy: 2e-6)  // weighted, like its gradient
        let expected: [Float] = [-0.029800731, 0.067235355, 0.155614833, -0.238143532, 0, 0].map { 2 * $0 }
        for (g, e) in zip(gradient.array, expected) { XCTAssertEqual(g, e, accuracy: 1e-6) }
        // Far from zero the loss stays finite (no log of 0).
        let extreme = Loss.binaryCrossEntropy(logits: Matrix(rows: 2, cols: 1, values: [200, -200]),
                                              targets: Matrix(rows: 2, cols: 1, values: [0, 1]),
                                              layout: .single(frames: 2), gradient: gradient)
        XCTAssertEqual(extreme, 200, accuracy: 1e-3)
    }

    // MARK: - Score

    /// Golden values checked against the pairwise definition (and scikit-learn's documented example, 0.75).
    func testROCAreaIsExactWithTiesAveraged() {
        XCTAssertEqual(ROC.areaUnderCurve(scores: [0.1, 0.4, 0.35, 0.8], labels: [0, 0, 1, 1]), 0.75)
        let auc = ROC.areaUnderCurve(scores: [0.1, 0.4, 0.35, 0.8, 0.4, 0.4], labels: [0, 0, 1, 1, 1, 0])
        XCTAssertEqual(try XCTUnwrap(auc), 2.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(ROC.areaUnderCurve(scores: [1, 2, 3], labels: [0, 0, 1]), 1)
        XCTAssertEqual(ROC.areaUnderCurve(scores: [3, 2, 1], labels: [0, 0, 1]), 0)
        XCTAssertEqual(ROC.areaUnderCurve(scores: [5, 5, 5, 5], labels: [0, 1, 0, 1]), 0.5)
        XCTAssertNil(ROC.areaUnderCurve(scores: [1, 2], labels: [1, 1]))
    }

    // MARK: - Network

    /// The head adds hidden + 1 parameters after all the others, which start as they would without it: the same
    /// seed gives the same mask.
    func testHeadAddsOneUnitAndLeavesTheMaskAlone() throws {
        for kind in MaskNetKind.allCases {
            let plain = try TestSignals.tinyModel(kind)
            let headed = try TestSignals.tinyModel(kind, speechHead: true)
            XCTAssertEqual(headed.net.parameterCount, plain.net.parameterCount + 8 + 1)
            XCTAssertEqual(Double(headed.net.parameterCount), headed.net.config.parameterCount)
            let bins = plain.stft.bins, layout = SequenceBatch(frames: 6, lengths: [6, 4])
            var rng = RandomGenerator(seed: 2)
            let x = Matrix(rows: 12, cols: bins, values: (0..<(12 * bins)).map { _ in rng.normal() - 5 })
            let expected = plain.net.forward(x, layout: layout, training: false).array
            XCTAssertEqual(headed.net.forward(x, layout: layout, training: false).array, expected, "\(kind)")
            let logits = try XCTUnwrap(headed.net.speechLogits)
            XCTAssertEqual(logits.rows, 12)
            XCTAssertEqual(logits.cols, 1)
            XCTAssertEqual(logits[5 + 6 - 1, 0], 0, "padding row")  // row 11 is padding of the second utterance
            XCTAssertNil(plain.net.speechLogits)
        }
    }

    /// A causal network's speech probability of a frame does not change when later frames do.
    func testCausalHeadSeesNoLaterFrames() throws {
        let stft = STFTConfig(nFFT: 64, hop: 32)
        let config = MaskNetConfig(kind: .cnn, bins: stft.bins, hidden: 8, kernelSize: 3, dilations: [1, 2],
                                   causal: true, speechHead: true)
        let model = try DenoiseModel(config: config, stft: stft, seed: 4)
        var rng = RandomGenerator(seed: 5)
        let x = Matrix(rows: 10, cols: stft.bins, values: (0..<(10 * stft.bins)).map { _ in rng.normal() })
        _ = model.net.forward(x, layout: .single(frames: 10), training: false)
        let before = try XCTUnwrap(model.net.speechLogits).array
        for k in 0..<stft.bins { x[7, k] += 3 }
        _ = model.net.forward(x, layout: .single(frames: 10), training: false)
        let after = try XCTUnwrap(model.net.speechLogits).array
        XCTAssertEqual(Array(after[..<7]), Array(before[..<7]))
        XCTAssertNotEqual(after[7], before[7])
    }

    /// The whole network with the head against central finite differences of spectral loss + weighted BCE, both
    /// kinds, the packed MLP path included (a padded batch), and the folded backward against the reference one.
    func testJointLossGradientCheck() throws {
        for kind in MaskNetKind.allCases {
            let model = try TestSignals.tinyModel(kind, speechHead: true, seed: 5)
            let bins = model.stft.bins, layout = SequenceBatch(frames: 5, lengths: [5, 3])
            var rng = RandomGenerator(seed: 9)
            let x = Matrix(rows: layout.rows, cols: bins, values: (0..<(layout.rows * bins)).map { _ in rng.normal() })
            let noisy = Matrix(rows: layout.rows, cols: bins,
                               values: (0..<(layout.rows * bins)).map { _ in rng.uniform(0.1, 1) })
            let clean = Matrix(rows: layout.rows, cols: bins,
                               values: (0..<(layout.rows * bins)).map { _ in rng.uniform(0, 1) })
            let labels = Matrix(rows: layout.rows, cols: 1, values: [1, 0, 1, 1, 0, 0, 1, 0, 0, 0])
            let maskGradient = Matrix(rows: 0, cols: 0), speechGradient = Matrix(rows: 0, cols: 0)
            let weight: Float = 0.5
            func loss() -> Float {
                let mask = model.net.forward(x, layout: layout, training: false)
                guard let logits = model.net.speechLogits else { return .nan }
                return Loss.spectral(mask: mask, noisyMagnitude: noisy, cleanMagnitude: clean, layout: layout,
                                     gradient: maskGradient)
                    + Loss.binaryCrossEntropy(logits: logits, targets: labels, layout: layout, weight: weight,
                                                       gradient: speechGradient)
            }
            let store = model.net.store
            store.zeroGradients()
            _ = loss()
            model.net.backward(maskGradient, gradSpeechLogits: speechGradient)
            let analytic = Array(store.gradientBuffer)
            store.zeroGradients()
            _ = loss()
            model.net.referenceBackward(maskGradient, gradSpeechLogits: speechGradient)
            for (a, b) in zip(analytic, store.gradientBuffer) { XCTAssertEqual(a, b, accuracy: 1e-5 + 1e-4 * abs(b)) }
            // Every head parameter, and a sample of the rest.
            guard let head = store.entry(named: "speech.linear.weight") else { return XCTFail("no head") }
            let indices = Array(stride(from: 0, to: head.offset, by: max(1, head.offset / 30)))
                + Array(head.offset..<store.count)
            for i in indices {
                // A step of 1e-2 crosses a ReLU's kink at one of the sampled weights; 1e-3 stays on one side.
                let numeric = centralDifference(store, index: i, step: 1e-3, loss: loss)
                XCTAssertEqual(analytic[i], numeric, accuracy: 2e-3 + 0.05 * abs(numeric), "\(kind) parameter \(i)")
            }
            // The head's gradient reaches the shared layers: without it they get a different gradient.
            store.zeroGradients()
            _ = loss()
            model.net.backward(maskGradient)
            XCTAssertNotEqual(Array(store.gradientBuffer[..<head.offset]), Array(analytic[..<head.offset]), "\(kind)")
        }
    }

    // MARK: - Model file

    /// A model without the head is written as before (format 1, no speechHead key) and one with it as format 4;
    /// both read back with the same outputs.
    func testModelFileKeepsOldFormatWithoutHeadAndRoundTripsTheHead() throws {
        let plain = try TestSignals.tinyModel(.mlp)
        XCTAssertEqual(plain.formatVersion, "denoise-model-1")
        XCTAssertFalse(try XCTUnwrap(plain.safeTensors().metadata["masknet"]).contains("speechHead"))
        let headed = try TestSignals.tinyModel(.cnn, speechHead: true)
        XCTAssertEqual(headed.formatVersion, "denoise-model-4")
        let read = try DenoiseModel(safeTensors: headed.safeTensors(), path: "memory")
        XCTAssertTrue(read.hasSpeechHead)
        XCTAssertEqual(Array(read.net.store.valueBuffer), Array(headed.net.store.valueBuffer))
    }

    /// Fine-tuning a model without the head: every tensor is kept, the mask is unchanged, and the head is new.
    func testAddingAHeadKeepsEveryOtherWeight() throws {
        for kind in MaskNetKind.allCases {
            let plain = try TestSignals.tinyModel(kind, seed: 7)
            let headed = try plain.addingSpeechHead(seed: 1)
            XCTAssertTrue(headed.hasSpeechHead)
            for entry in plain.net.store.entries {
                let copy = try XCTUnwrap(headed.net.store.entry(named: entry.name))
                XCTAssertEqual(Array(headed.net.store.valueBuffer[copy.range]),
                               Array(plain.net.store.valueBuffer[entry.range]))
            }
            let bins = plain.stft.bins
            let x = Matrix(rows: 6, cols: bins, values: (0..<(6 * bins)).map { Float($0 % 7) - 9 })
            let expected = plain.net.forward(x, layout: .single(frames: 6), training: false).array
            XCTAssertEqual(headed.net.forward(x, layout: .single(frames: 6), training: false).array, expected)
            XCTAssertTrue(try headed.addingSpeechHead() === headed)
        }
    }

    // MARK: - Training the head alone

    /// Trained alone, the head learns (its cross-entropy on the validation pairs falls) while every other weight
    /// stays exactly as it was, under AdamW's decay too, and so does the denoised audio. A model without the head
    /// has nothing to train alone.
    func testTrainingTheHeadAloneLeavesTheRestOfTheModelAsItIs() throws {
        let utterances = (0..<6).map { i -> Utterance in
            let s = TestSignals.speechLike(seconds: 0.5, seed: UInt64(i + 1))
            let n = TestSignals.whiteNoise(count: s.count, level: 0.05, seed: UInt64(50 + i))
            return Utterance(name: "u\(i)", noisy: zip(s, n).map { $0 + $1 }, clean: s)
        }
        let train = PairDataset(utterances: Array(utterances.prefix(4)))
        let validation = PairDataset(utterances: Array(utterances.suffix(2)))
        var options = TrainingOptions()
        options.epochs = 6
        options.batchSize = 2
        options.learningRate = 1e-2
        options.cropSeconds = 0.4
        options.speechHeadOnly = true
        XCTAssertThrowsError(try Trainer(model: try TestSignals.tinyModel(.cnn), train: train, validation: validation,
                                         options: options))

        let model = try TestSignals.tinyModel(.cnn, dropout: 0.1, speechHead: true, seed: 4)
        let store = model.net.store
        let weightsBefore = Array(store.valueBuffer)
        let noisy = AudioBuffer(channels: [utterances[5].noisy], sampleRate: 16000)
        let audioBefore = Denoiser.enhance(noisy, model: model).channels[0]
        let trainer = try Trainer(model: model, train: train, validation: validation, options: options)
        let lossBefore = try trainer.evaluate().loss
        var reports: [EpochReport] = []
        while !trainer.isFinished { reports.append(try XCTUnwrap(trainer.runEpoch())) }
        XCTAssertLessThan(try trainer.evaluate().loss, lossBefore)
        for entry in store.entries {
            let unchanged = Array(store.valueBuffer[entry.range]) == Array(weightsBefore[entry.range])
            if entry.name.hasPrefix(MaskNet.speechHeadPrefix) {
                XCTAssertFalse(unchanged, "\(entry.name) was not trained")
            } else {
                XCTAssertTrue(unchanged, "\(entry.name) changed")
            }
        }
        XCTAssertTrue(Denoiser.enhance(noisy, model: model).channels[0] == audioBefore, "the audio changed")

        // The validation audio is scored once and its gain reported every epoch: the gain a full scoring gives.
        options.speechHeadOnly = false
        options.epochs = 1
        let whole = try Trainer(model: model, train: train, validation: validation, options: options)
        let scored = try whole.evaluate().sisdrGain
        XCTAssertTrue(reports.allSatisfy { $0.validationSISDRGain == scored }, "\(reports.map(\.validationSISDRGain))")
        // A trainer of the whole network trains all of it again.
        _ = try whole.runEpoch()
        let trunk = try XCTUnwrap(store.entry(named: "output.conv.weight"))
        XCTAssertTrue(Array(store.valueBuffer[trunk.range]) != Array(weightsBefore[trunk.range]),
                      "the trunk did not train")
    }

    // MARK: - Denoiser

    /// The denoiser records one probability per frame it masks, at the analysis hop, whatever the chunking, and the
    /// same as the network gives on the whole input; nothing without the option.
    /// A causal model's steps (several frames at once, fed in odd block sizes, one stream per channel) record the
    /// probabilities its windows record: one per frame, the mean over the channels with `perChannel`.
    func testCausalStepsRecordTheWindowsProbabilities() throws {
        let stft = STFTConfig(nFFT: 64, hop: 32)
        let config = MaskNetConfig(kind: .cnn, bins: stft.bins, hidden: 8, kernelSize: 3, dilations: [1, 2],
                                   residual: true, causal: true, inputNorm: .batch, dropout: 0, speechHead: true)
        let model = try DenoiseModel(config: config, stft: stft, sampleRate: 16000, seed: 5)
        var rng = RandomGenerator(seed: 11)
        TestSignals.randomizeWeights(model.net, rng: &rng)
        let count = 3000
        let input = AudioBuffer(channels: [TestSignals.speechLike(seconds: Double(count) / 16000, seed: 2),
                                           TestSignals.whiteNoise(count: count, level: 0.1, seed: 3)],
                                sampleRate: 16000)
        func probabilities(stepsFrames: Bool, pieces: [Int]) -> [Float] {
            let denoiser = Denoiser(model: model, channelCount: 2, sampleRate: 16000,
                                    options: DenoiserOptions(perChannel: true, chunkFrames: 5,
                                                             recordsSpeechProbability: true),
                                    stepsFrames: stepsFrames)
            var recorded: [Float] = [], position = 0, i = 0
            while position < count {
                let n = min(pieces[i % pieces.count], count - position)
                let block = input.channels.map { Array($0[position ..< position + n]) }
                _ = denoiser.process(AudioBuffer(channels: block, sampleRate: 16000))
                recorded += denoiser.takeSpeechProbabilities()
                position += n
                i += 1
            }
            _ = denoiser.finish()
            return recorded + denoiser.takeSpeechProbabilities()
        }
        let windows = probabilities(stepsFrames: false, pieces: [count])
        let steps = probabilities(stepsFrames: true, pieces: [1, 333, 50, 917, 17])
        XCTAssertEqual(windows.count, STFT.frameCount(forSamples: count, config: stft))
        XCTAssertEqual(steps.count, windows.count)
        for (a, b) in zip(steps, windows) { XCTAssertEqual(a, b, accuracy: 1e-5) }
        XCTAssertGreaterThan((windows.max() ?? 0) - (windows.min() ?? 0), 0.05, "the probabilities vary")
    }

    func testDenoiserRecordsOneProbabilityPerFrame() throws {
        let model = try TestSignals.tinyModel(.mlp, speechHead: true)
        var rng = RandomGenerator(seed: 3)
        let input = AudioBuffer(mono: (0..<3000).map { _ in rng.uniform(-0.3, 0.3) }, sampleRate: 16000)
        let whole = Denoiser(model: model, channelCount: 1, sampleRate: 16000,
                             options: DenoiserOptions(recordsSpeechProbability: true))
        _ = whole.process(input)
        _ = whole.finish()
        let probabilities = whole.takeSpeechProbabilities()
        XCTAssertEqual(probabilities.count, STFT.frameCount(forSamples: 3000, config: model.stft))
        XCTAssertTrue(probabilities.allSatisfy { $0 > 0 && $0 < 1 })
        XCTAssertEqual(whole.takeSpeechProbabilities(), [])
        XCTAssertEqual(whole.frameSeconds, 32.0 / 16000)

        let chunked = Denoiser(model: model, channelCount: 1, sampleRate: 16000,
                               options: DenoiserOptions(chunkFrames: 7, recordsSpeechProbability: true))
        var collected: [Float] = []
        for start in stride(from: 0, to: 3000, by: 500) {
            _ = chunked.process(AudioBuffer(mono: Array(input.channels[0][start..<(start + 500)]), sampleRate: 16000))
            collected += chunked.takeSpeechProbabilities()
        }
        _ = chunked.finish()
        collected += chunked.takeSpeechProbabilities()
        XCTAssertEqual(collected.count, probabilities.count)
        for (a, b) in zip(collected, probabilities) { XCTAssertEqual(a, b, accuracy: 1e-5) }

        let silent = Denoiser(model: model, channelCount: 1, sampleRate: 16000)
        _ = silent.process(input)
        _ = silent.finish()
        XCTAssertEqual(silent.takeSpeechProbabilities(), [])
    }

    /// At 48 kHz the frames are the native-rate STFT's: hop 96 for a 32-sample hop at 16 kHz, still 2 ms apart.
    func testDenoiserFramesAtHigherRatesAreTheNativeSTFTs() throws {
        let model = try TestSignals.tinyModel(.cnn, speechHead: true)
        let denoiser = Denoiser(model: model, channelCount: 2, sampleRate: 48000,
                                options: DenoiserOptions(perChannel: true, recordsSpeechProbability: true))
        let samples = (0..<9000).map { Float(sin(Double($0) * 0.01)) * 0.3 }
        _ = denoiser.process(AudioBuffer(channels: [samples, samples.map { $0 / 2 }], sampleRate: 48000))
        _ = denoiser.finish()
        XCTAssertEqual(denoiser.analysisSTFT.hop, 96)
        XCTAssertEqual(denoiser.frameSeconds, 0.002, accuracy: 1e-12)
        XCTAssertEqual(denoiser.takeSpeechProbabilities().count, STFT.frameCount(forSamples: 9000,
                                                                                config: denoiser.analysisSTFT))
    }
}
