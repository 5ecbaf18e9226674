import XCTest
@testable import DenoiseKit
#if canImport(FoundationXML)
import FoundationXML
#endif

final class TrainingTests: XCTestCase {
    /// Writes `count` noisy/clean pairs of speech-like signals in white noise.
    private func makeCorpus(count: Int, seconds: Double = 0.5) throws -> (noisy: URL, clean: URL) {
        let root = try TestSignals.temporaryFolder()
        let noisy = root.appendingPathComponent("noisy"), clean = root.appendingPathComponent("clean")
        for i in 0..<count {
            let s = TestSignals.speechLike(seconds: seconds + 0.1 * Double(i % 3), seed: UInt64(i + 1))
            let n = TestSignals.whiteNoise(count: s.count, level: 0.03, seed: UInt64(100 + i))
            try TestSignals.writeWAV(s, to: clean.appendingPathComponent("u\(i).wav"))
            try TestSignals.writeWAV(zip(s, n).map { $0 + $1 }, to: noisy.appendingPathComponent("u\(i).wav"))
        }
        return (noisy, clean)
    }

    func testPairsAreMatchedByRelativePathAndStrangersListed() throws {
        let corpus = try makeCorpus(count: 3)
        try TestSignals.writeWAV([0.1, 0.2], to: corpus.noisy.appendingPathComponent("only-noisy.wav"))
        try TestSignals.writeWAV(TestSignals.speechLike(seconds: 0.7),
                                 to: corpus.clean.appendingPathComponent("sub/x.WAV"))
        try TestSignals.writeWAV(TestSignals.speechLike(seconds: 0.5),
                                 to: corpus.noisy.appendingPathComponent("sub/x.WAV"))
        let data = try PairDataset.load(noisy: corpus.noisy, clean: corpus.clean, sampleRate: 16000)
        XCTAssertEqual(data.utterances.map(\.name), ["sub/x.WAV", "u0.wav", "u1.wav", "u2.wav"])
        XCTAssertTrue(data.warnings.contains { $0.contains("only-noisy.wav") })
        XCTAssertTrue(data.warnings.contains { $0.contains("sub/x.WAV") && $0.contains("trimmed") })
        XCTAssertEqual(data.utterances[0].noisy.count, data.utterances[0].clean.count)
    }

    func testNoPairsIsAClearError() throws {
        let a = try TestSignals.temporaryFolder(), b = try TestSignals.temporaryFolder()
        try TestSignals.writeWAV([0.1], to: a.appendingPathComponent("a.wav"))
        try TestSignals.writeWAV([0.1], to: b.appendingPathComponent("b.wav"))
        XCTAssertThrowsError(try PairDataset.load(noisy: a, clean: b, sampleRate: 16000)) { error in
            XCTAssertTrue("\(error)".contains("no noisy/clean pairs"), "\(error)")
        }
        XCTAssertThrowsError(try PairDataset.load(noisy: a.appendingPathComponent("missing"), clean: b,
                                                  sampleRate: 16000))
    }

    func testPairsAtAnotherRateAreResampledToTheModelRate() throws {
        let root = try TestSignals.temporaryFolder()
        let s = TestSignals.speechLike(seconds: 0.5, sampleRate: 48000)
        try TestSignals.writeWAV(s, to: root.appendingPathComponent("n/a.wav"), sampleRate: 48000)
        try TestSignals.writeWAV(s, to: root.appendingPathComponent("c/a.wav"), sampleRate: 48000)
        let data = try PairDataset.load(noisy: root.appendingPathComponent("n"),
                                        clean: root.appendingPathComponent("c"),
                                        sampleRate: 16000)
        XCTAssertEqual(data.utterances[0].count, 8000)
    }

    func testValidationSplitIsSeededAndDisjoint() throws {
        let utterances = (0..<20).map { Utterance(name: "u\($0)", noisy: [0], clean: [0]) }
        let data = PairDataset(utterances: utterances)
        let (train, validation) = try data.split(validationFraction: 0.1, seed: 4)
        XCTAssertEqual(validation.utterances.count, 2)
        XCTAssertEqual(Set(train.utterances.map(\.name)).intersection(validation.utterances.map(\.name)).count, 0)
        XCTAssertEqual(try data.split(validationFraction: 0.1, seed: 4).validation.utterances.map(\.name),
                       validation.utterances.map(\.name))
        XCTAssertThrowsError(try data.split(validationFraction: 0.001, seed: 4))
    }

    func testBatchPlanCropsGroupsByLengthAndCoversEveryUtterance() {
        var rng = RandomGenerator(seed: 1)
        let lengths = [100, 5000, 300, 301, 90_000, 299, 7, 1000]
        let plan = BatchPlanner.plan(lengths: lengths, batchSize: 3, cropSamples: 4000, rng: &rng)
        let items = plan.joined()
        XCTAssertEqual(Set(items.map(\.utterance)), Set(lengths.indices))
        for item in items {
            XCTAssertLessThanOrEqual(item.length, 4000)
            XCTAssertLessThanOrEqual(item.start + item.length, lengths[item.utterance])
        }
        // Similar lengths share batches: crops sorted (7, 100, 299 | 300, 301, 1000 | 4000, 4000), cut in threes.
        XCTAssertEqual(Set(plan.map { Set($0.map(\.utterance)) }), [[6, 0, 5], [2, 3, 7], [1, 4]])
        var again = RandomGenerator(seed: 1)
        XCTAssertEqual(BatchPlanner.plan(lengths: lengths, batchSize: 3, cropSamples: 4000, rng: &again), plan)
    }

    func testSpectralBatchMarksPaddingFrames() {
        let stft = STFT(config: STFTConfig(nFFT: 64, hop: 32, window: .sqrtHann))
        let batch = SpectralBatch()
        batch.fill(pairs: [([Float](repeating: 0.1, count: 320), [Float](repeating: 0.1, count: 320)),
                           ([Float](repeating: 0.1, count: 64), [Float](repeating: 0.1, count: 64))], stft: stft)
        XCTAssertEqual(batch.layout.lengths, [STFT.frameCount(forSamples: 320, config: stft.config),
                                              STFT.frameCount(forSamples: 64, config: stft.config)])
        let lastRow = batch.layout.rows - 1
        XCTAssertFalse(batch.layout.isReal(row: lastRow))
        XCTAssertEqual(batch.noisyMagnitude[lastRow, 0], 0)
    }

    func testAugmentationMixesAtTheRequestedSNR() {
        var rng = RandomGenerator(seed: 8)
        let clean = TestSignals.speechLike(seconds: 1)
        let clips = [TestSignals.whiteNoise(count: 3000, seed: 5)]
        for kind in Augmentation.Kind.noises {
            let augmentation = Augmentation(kinds: [kind], snrRange: 7...7, noiseClips: clips,
                                            speech: (0..<4).map {
                                                TestSignals.speechLike(seconds: 0.5, seed: UInt64($0 + 20))
                                            },
                                            sampleRate: 16000, conditions: .none)
            let (noisy, target) = augmentation.remix(clean: clean, rng: &rng)
            XCTAssertEqual(target, clean, "\(kind) must not change the speech")
            let noise = zip(noisy, target).map { $0 - $1 }
            let snr = 10 * log10(Mixing.meanSquare(target) / Mixing.meanSquare(noise))
            XCTAssertEqual(snr, 7, accuracy: 0.05, "\(kind)")
        }
    }

    func testSpeechVariationsApplyToTargetAndInputAlike() {
        var rng = RandomGenerator(seed: 2)
        let augmentation = Augmentation(kinds: [.gain, .lowpass, .colored], snrRange: 100...100, noiseClips: [],
                                        speech: [], sampleRate: 16000, conditions: .none)
        let clean = TestSignals.speechLike(seconds: 0.5)
        let (noisy, target) = augmentation.remix(clean: clean, rng: &rng)
        XCTAssertNotEqual(target, clean)
        for (x, y) in zip(noisy, target) { XCTAssertEqual(x, y, accuracy: 1e-3) }
    }

    private func makeTrainer(epochs: Int, patience: Int? = nil, minDelta: Float = 0, seed: UInt64 = 1,
                             phaseWeight: Float = 0, stoiWeight: Float = 0, sisdrWeight: Float = 0,
                             averageDecay: Float? = nil,
                             extraSeconds: Double = 0, inputNorm: InputNormKind = .batch) throws -> Trainer {
        let utterances = (0..<6).map { i -> Utterance in
            let s = TestSignals.speechLike(seconds: 0.25 + 0.05 * Double(i) + extraSeconds, seed: UInt64(i + 1))
            let n = TestSignals.whiteNoise(count: s.count, level: 0.05, seed: UInt64(50 + i))
            return Utterance(name: "u\(i)", noisy: zip(s, n).map { $0 + $1 }, clean: s)
        }
        var options = TrainingOptions()
        options.epochs = epochs
        options.batchSize = 2
        options.learningRate = 3e-3
        options.earlyStopPatience = patience
        options.earlyStopMinDelta = minDelta
        options.seed = seed
        options.cropSeconds = 0.2 + extraSeconds
        options.phaseWeight = phaseWeight
        options.stoiWeight = stoiWeight
        options.sisdrWeight = sisdrWeight
        options.averageDecay = averageDecay
        let augmentation = Augmentation(kinds: Set(Augmentation.Kind.allCases),
                                        noiseClips: [TestSignals.whiteNoise(count: 999)],
                                        speech: utterances.map(\.clean), sampleRate: 16000)
        return try Trainer(model: try TestSignals.tinyModel(.cnn, inputNorm: inputNorm, dropout: 0.1, seed: seed),
                           train: PairDataset(utterances: Array(utterances.prefix(4))),
                           validation: PairDataset(utterances: Array(utterances.suffix(2))),
                           options: options, augmentation: augmentation)
    }

    func testTrainingLowersTheLoss() throws {
        let trainer = try makeTrainer(epochs: 8)
        var reports: [EpochReport] = []
        while !trainer.isFinished { reports.append(try XCTUnwrap(trainer.runEpoch())) }
        XCTAssertEqual(reports.count, 8)
        XCTAssertLessThan(reports.last!.validationLoss, reports.first!.validationLoss)
        XCTAssertTrue(reports.allSatisfy { $0.framesPerSecond > 0 && $0.trainLoss.isFinite })
    }

    /// With the running input normalisation (statistics of each cropped utterance so far, no corpus statistics)
    /// the network still learns. (The training loss of single batches jumps with the augmentation, with any input
    /// norm; the validation loss is the measure.)
    func testTrainingWithTheRunningInputNormLowersTheLoss() throws {
        let trainer = try makeTrainer(epochs: 8, inputNorm: .running)
        var reports: [EpochReport] = []
        while !trainer.isFinished { reports.append(try XCTUnwrap(trainer.runEpoch())) }
        XCTAssertLessThan(reports.last!.validationLoss, reports.first!.validationLoss)
        XCTAssertTrue(reports.allSatisfy { $0.trainLoss.isFinite })
    }

    /// With the phase-aware loss the batches carry phases, and the validation loss (the complex distance
    /// included) still falls.
    func testTrainingWithThePhaseAwareLossLowersTheLoss() throws {
        let trainer = try makeTrainer(epochs: 8, phaseWeight: 0.3)
        var reports: [EpochReport] = []
        while !trainer.isFinished { reports.append(try XCTUnwrap(trainer.runEpoch())) }
        XCTAssertLessThan(reports.last!.validationLoss, reports.first!.validationLoss)
        XCTAssertTrue(reports.allSatisfy { $0.trainLoss.isFinite })
    }

    /// The intelligibility term enters the objective: before any training, the validation loss with it exceeds the
    /// spectral loss alone, and training with it lowers that loss. Utterances and crops are longer than the
    /// term's 384 ms segments.
    func testTrainingWithTheIntelligibilityTermLowersTheLoss() throws {
        let spectralOnly = try makeTrainer(epochs: 8, extraSeconds: 0.5).evaluate().loss
        let trainer = try makeTrainer(epochs: 8, stoiWeight: 0.5, extraSeconds: 0.5)
        let before = try trainer.evaluate().loss
        XCTAssertGreaterThan(before, spectralOnly + 0.01)
        var reports: [EpochReport] = []
        while !trainer.isFinished { reports.append(try XCTUnwrap(trainer.runEpoch())) }
        XCTAssertLessThan(reports.last!.validationLoss, before)
        XCTAssertThrowsError(try makeTrainer(epochs: 1, stoiWeight: -1))
    }

    /// The waveform term enters the objective (minus an SI-SDR in dB: before training, the validation loss with it
    /// lies below the spectral loss alone, the enhanced audio's SI-SDR being positive), and training with it lowers
    /// that loss; a negative weight is refused.
    func testTrainingWithTheWaveformTermLowersTheLoss() throws {
        let spectralOnly = try makeTrainer(epochs: 8).evaluate().loss
        let trainer = try makeTrainer(epochs: 8, sisdrWeight: 0.01)
        let before = try trainer.evaluate().loss
        XCTAssertLessThan(before, spectralOnly - 0.01)
        var reports: [EpochReport] = []
        while !trainer.isFinished { reports.append(try XCTUnwrap(trainer.runEpoch())) }
        XCTAssertLessThan(reports.last!.validationLoss, before)
        XCTAssertTrue(reports.allSatisfy { $0.trainLoss.isFinite })
        XCTAssertThrowsError(try makeTrainer(epochs: 1, sisdrWeight: -1))
    }

    // MARK: - Teacher

    private func teacherPairs() -> [(noisy: [Float], clean: [Float])] {
        (0..<2).map { i in
            let s = TestSignals.speechLike(seconds: 0.3, seed: UInt64(i + 1))
            let n = TestSignals.whiteNoise(count: s.count, level: 0.05, seed: UInt64(70 + i))
            return (zip(s, n).map { $0 + $1 }, s)
        }
    }

    private func teacherTrainer(_ teacher: DenoiseModel?, weight: Float, learningRate: Float = 1e-3) throws -> Trainer {
        let data = PairDataset(utterances: teacherPairs().enumerated().map {
            Utterance(name: "u\($0.offset)", noisy: $0.element.noisy, clean: $0.element.clean)
        })
        var options = TrainingOptions()
        options.batchSize = 2
        options.learningRate = learningRate
        options.stoiWeight = 0
        options.teacherWeight = weight
        return try Trainer(model: try TestSignals.tinyModel(.cnn, seed: 3), train: data, validation: data,
                           options: options, teacher: teacher)
    }

    /// Mean over the batch's real frames × bins of (a − b)².
    private func meanSquaredDistance(_ a: Matrix, _ b: Matrix, _ layout: SequenceBatch) -> Double {
        var sum = 0.0, count = 0
        for row in 0..<layout.rows where layout.isReal(row: row) {
            for col in 0..<a.cols {
                let d = Double(a[row, col] - b[row, col])
                sum += d * d
                count += 1
            }
        }
        return sum / Double(count)
    }

    /// A step's loss with a teacher exceeds the same step's without one by exactly the weight × the mean squared
    /// difference of the two masks, computed here by hand (the model's mask as a training forward gives it).
    func testTeacherTermAddsTheWeightedMaskDistanceToAStep() throws {
        let teacher = try TestSignals.tinyModel(.cnn, residual: true, seed: 9)
        let plain = try teacherTrainer(nil, weight: 0), taught = try teacherTrainer(teacher, weight: 2.5)
        let batch = plain.batch(of: teacherPairs())
        let student = try TestSignals.tinyModel(.cnn, seed: 3)
        let mask = student.net.forward(batch.features, layout: batch.layout, training: true)
        let target = teacher.net.forward(batch.features, layout: batch.layout, training: false)
        let distance = meanSquaredDistance(mask, target, batch.layout)
        XCTAssertGreaterThan(distance, 1e-4, "the masks differ")
        let lossPlain = try plain.step(on: batch)
        let lossTaught = try taught.step(on: taught.batch(of: teacherPairs()))
        XCTAssertEqual(Double(lossTaught - lossPlain), 2.5 * distance, accuracy: 1e-6 + 1e-4 * distance)
    }

    /// Steps with a heavy teacher weight bring the model's masks much closer to the teacher's than the same steps
    /// without it: the term's gradient reaches the weights.
    func testStepsWithATeacherMoveTheMasksTowardsIt() throws {
        let teacher = try TestSignals.tinyModel(.cnn, residual: true, seed: 9)
        let plain = try teacherTrainer(nil, weight: 0, learningRate: 1e-2)
        let taught = try teacherTrainer(teacher, weight: 20, learningRate: 1e-2)
        let batch = plain.batch(of: teacherPairs())
        let target = teacher.net.forward(batch.features, layout: batch.layout, training: false).array
        func distance(_ trainer: Trainer) -> Double {
            let mask = trainer.model.net.forward(batch.features, layout: batch.layout, training: false)
            return meanSquaredDistance(mask, Matrix(rows: mask.rows, cols: mask.cols, values: target), batch.layout)
        }
        let before = distance(plain)
        XCTAssertEqual(before, distance(taught), accuracy: 1e-9, "the two start from the same weights")
        for _ in 0..<30 {
            try plain.step(on: batch)
            try taught.step(on: batch)
        }
        XCTAssertLessThan(distance(taught), 0.5 * distance(plain), "before \(before)")
    }

    /// A teacher weight needs a teacher that masks the same frames, and is a number ≥ 0.
    func testTeacherOptionsAreChecked() throws {
        XCTAssertThrowsError(try teacherTrainer(nil, weight: 1))
        XCTAssertThrowsError(try teacherTrainer(try TestSignals.tinyModel(.cnn, seed: 9), weight: -1))
        let otherFrames = try DenoiseModel(config: MaskNetConfig(kind: .cnn, bins: 65, hidden: 8, dilations: [1]),
                                           stft: STFTConfig(nFFT: 128, hop: 64), sampleRate: 16000, seed: 1)
        XCTAssertThrowsError(try teacherTrainer(otherFrames, weight: 1)) { error in
            XCTAssertTrue("\(error)".contains("n_fft 128"), "\(error)")
        }
        XCTAssertNoThrow(try teacherTrainer(try TestSignals.tinyModel(.cnn, seed: 9), weight: 1))
    }

    func testResumedTrainingMatchesUninterruptedTraining() throws {
        for averageDecay in [nil, Float(0.9)] {
            let straight = try makeTrainer(epochs: 3, averageDecay: averageDecay)
            for _ in 0..<3 { _ = try straight.runEpoch() }

            let first = try makeTrainer(epochs: 3, averageDecay: averageDecay)
            _ = try first.runEpoch()
            let saved = try SafeTensors.decode(first.checkpoint().encoded(), path: "checkpoint")
            let resumed = try makeTrainer(epochs: 3, seed: 1, averageDecay: averageDecay)
            let weights = try DenoiseModel(safeTensors: saved, path: "checkpoint")
            let store = resumed.model.net.store
            store.values.update(from: weights.net.store.values, count: weights.net.store.count)
            store.markValuesChanged()
            for ((_, layer), (_, saved)) in zip(resumed.model.net.batchNorms, weights.net.batchNorms) {
                layer.runningMean = saved.runningMean
                layer.runningVariance = saved.runningVariance
            }
            try resumed.restore(from: saved, path: "checkpoint")
            XCTAssertEqual(resumed.epoch, 1)
            for _ in 0..<2 { _ = try resumed.runEpoch() }

            let label = "average \(averageDecay.map { "\($0)" } ?? "off")"
            XCTAssertEqual(Array(store.valueBuffer), Array(straight.model.net.store.valueBuffer), label)
            XCTAssertEqual(resumed.history.map(\.trainLoss), straight.history.map(\.trainLoss), label)
            // The validation runs on the average, so it too must have been carried over.
            XCTAssertEqual(resumed.history.map(\.validationLoss), straight.history.map(\.validationLoss), label)
        }
    }

    func testWeightAverageWithDecayZeroIsTheTrainedWeights() throws {
        let plain = try makeTrainer(epochs: 2), averaged = try makeTrainer(epochs: 2, averageDecay: 0)
        for _ in 0..<2 {
            _ = try plain.runEpoch()
            _ = try averaged.runEpoch()
        }
        XCTAssertEqual(averaged.history.map(\.validationLoss), plain.history.map(\.validationLoss))
        XCTAssertEqual(Array(averaged.model.net.store.valueBuffer), Array(plain.model.net.store.valueBuffer))
    }

    /// A decay next to 1 keeps the average at the starting weights while the trained weights move; validation
    /// runs on the average, and the trained weights are back in place after each use of it.
    func testWeightAverageNearOneStaysAtTheStartingWeights() throws {
        let trainer = try makeTrainer(epochs: 2, averageDecay: 0.999_999)
        let store = trainer.model.net.store
        let start = Array(store.valueBuffer)
        for _ in 0..<2 { _ = try trainer.runEpoch() }
        let trained = Array(store.valueBuffer)
        XCTAssertNotEqual(trained, start)
        let averaged = trainer.withAveragedWeights { Array(store.valueBuffer) }
        for (a, s) in zip(averaged, start) { XCTAssertEqual(a, s, accuracy: 1e-4) }
        XCTAssertEqual(Array(store.valueBuffer), trained)
        let onAverage = try trainer.withAveragedWeights { try trainer.evaluate().loss }
        XCTAssertEqual(trainer.history.last!.validationLoss, onAverage)
        XCTAssertNotEqual(try trainer.evaluate().loss, onAverage)
    }

    func testEarlyStoppingEndsARun() throws {
        // No epoch can beat the first by a min-delta of 10: patience 2 ends the run after epoch 3.
        let trainer = try makeTrainer(epochs: 100, patience: 2, minDelta: 10)
        var epochs = 0
        while !trainer.isFinished && epochs < 100 {
            _ = try trainer.runEpoch()
            epochs += 1
        }
        XCTAssertEqual(epochs, 3)
        XCTAssertEqual(trainer.bestEpoch, 0)
    }

    func testTrainingStopsWithAClearErrorWhenTheLossBecomesNaN() throws {
        let s = TestSignals.speechLike(seconds: 0.3)
        var poisoned = s
        poisoned[100] = .nan
        var options = TrainingOptions()
        options.epochs = 2
        options.batchSize = 2
        let trainer = try Trainer(model: try TestSignals.tinyModel(.mlp),
                                  train: PairDataset(utterances: [Utterance(name: "bad", noisy: poisoned, clean: s)]),
                                  validation: PairDataset(utterances: [Utterance(name: "v", noisy: s, clean: s)]),
                                  options: options)
        let before = Array(trainer.model.net.store.valueBuffer)
        XCTAssertThrowsError(try trainer.runEpoch()) { error in
            XCTAssertEqual(error as? TrainingError, .diverged(epoch: 0))
            XCTAssertTrue("\(error)".contains("NaN"))
        }
        // The failed steps never reached the weights.
        XCTAssertEqual(Array(trainer.model.net.store.valueBuffer), before)
    }

    func testLossPlotIsWellFormedSVG() throws {
        let history = (0..<5).map {
            EpochReport(epoch: $0, trainLoss: 1 / Float($0 + 1), validationLoss: 1.2 / Float($0 + 1),
                        validationSISDRGain: 1, learningRate: 1e-3, seconds: 1, framesPerSecond: 1)
        }
        let svg = LossPlot.svg(history: history)
        XCTAssertNoThrow(try XMLDocument(xmlString: svg))
        XCTAssertEqual(svg.components(separatedBy: "<polyline").count - 1, 3)
    }
}
