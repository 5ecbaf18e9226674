import Synchronization
import XCTest
@testable import DenoiseKit

/// Pairs read from disk a batch at a time (`PairFiles`), their CSV manifest, and the prefetcher that reads them.
final class StreamingPairsTests: XCTestCase {
    /// `count` noisy/clean pairs of speech-like signals in white noise, of several lengths; one pair at 48 kHz.
    private func makeCorpus(count: Int) throws -> (root: URL, noisy: URL, clean: URL) {
        let root = try TestSignals.temporaryFolder()
        let noisy = root.appendingPathComponent("noisy"), clean = root.appendingPathComponent("clean")
        for i in 0..<count {
            let rate = i == 2 ? 48000 : 16000
            let s = TestSignals.speechLike(seconds: 0.3 + 0.07 * Double(i), sampleRate: rate, seed: UInt64(i + 1))
            let n = TestSignals.whiteNoise(count: s.count, level: 0.05, seed: UInt64(60 + i))
            try TestSignals.writeWAV(s, to: clean.appendingPathComponent("u\(i).wav"), sampleRate: rate)
            try TestSignals.writeWAV(zip(s, n).map { $0 + $1 }, to: noisy.appendingPathComponent("u\(i).wav"),
                                     sampleRate: rate)
        }
        return (root, noisy, clean)
    }

    private func options(epochs: Int) -> TrainingOptions {
        var options = TrainingOptions()
        options.epochs = epochs
        options.batchSize = 2
        options.learningRate = 3e-3
        options.cropSeconds = 0.3
        options.stoiWeight = 0.3
        options.earlyStopPatience = nil
        return options
    }

    private func makeTrainer(train: any PairSource, validation: any PairSource, epochs: Int) throws -> Trainer {
        let material = try train.augmentationMaterial(maxSamples: 16000, seed: 3)
        let augmentation = Augmentation(noiseClips: material.noise, speech: material.speech, sampleRate: 16000)
        return try Trainer(model: try TestSignals.tinyModel(.cnn, dropout: 0.1, seed: 5), train: train,
                           validation: validation, options: options(epochs: epochs), augmentation: augmentation)
    }

    func testStreamingTrainsExactlyAsInMemory() throws {
        let corpus = try makeCorpus(count: 9)
        let files = try PairFiles.scan(noisy: corpus.noisy, clean: corpus.clean, sampleRate: 16000)
        let (train, validation) = try files.split(validationFraction: 0.25, seed: 2)
        let streaming = try makeTrainer(train: train, validation: validation, epochs: 2)
        let inMemory = try makeTrainer(train: try train.loaded(), validation: try validation.loaded(), epochs: 2)
        for _ in 0..<2 {
            _ = try XCTUnwrap(try streaming.runEpoch())
            _ = try XCTUnwrap(try inMemory.runEpoch())
        }
        XCTAssertEqual(streaming.history.map(\.trainLoss), inMemory.history.map(\.trainLoss))
        XCTAssertEqual(streaming.history.map(\.validationLoss), inMemory.history.map(\.validationLoss))
        XCTAssertEqual(streaming.history.map(\.validationSISDRGain), inMemory.history.map(\.validationSISDRGain))
        XCTAssertEqual(Array(streaming.model.net.store.valueBuffer), Array(inMemory.model.net.store.valueBuffer))
        XCTAssertTrue(streaming.history.allSatisfy { $0.trainLoss.isFinite && $0.trainLoss > 0 })
    }

    func testScannedLengthsAreThoseOfTheLoadedSamples() throws {
        let corpus = try makeCorpus(count: 4)
        // A pair whose files differ in length is trimmed to the shorter, as the in-memory loader does.
        try TestSignals.writeWAV(TestSignals.speechLike(seconds: 0.2), to: corpus.noisy.appendingPathComponent("v.wav"))
        try TestSignals.writeWAV(TestSignals.speechLike(seconds: 0.25),
                                 to: corpus.clean.appendingPathComponent("v.wav"))
        let files = try PairFiles.scan(noisy: corpus.noisy, clean: corpus.clean, sampleRate: 16000)
        XCTAssertTrue(files.warnings.contains { $0.hasPrefix("v.wav") && $0.contains("trimmed to 3200") })
        let loaded = try files.loaded()
        XCTAssertEqual(files.names, loaded.names)
        XCTAssertEqual(files.lengths, loaded.utterances.map { $0.noisy.count })
        XCTAssertEqual(files.lengths, loaded.utterances.map { $0.clean.count })
        // u2 is at 48 kHz: its length is counted at the model's rate.
        XCTAssertEqual(files.lengths[2], Int(((0.3 + 0.14) * 16000).rounded()))
        let old = try PairDataset.load(noisy: corpus.noisy, clean: corpus.clean, sampleRate: 16000)
        XCTAssertEqual(old.utterances.map(\.clean), loaded.utterances.map(\.clean))
    }

    func testSplitPicksTheSamePairsOnDiskAndInMemory() throws {
        let corpus = try makeCorpus(count: 9)
        let files = try PairFiles.scan(noisy: corpus.noisy, clean: corpus.clean, sampleRate: 16000)
        let fromDisk = try files.split(validationFraction: 0.3, seed: 7)
        let inMemory = try files.loaded().split(validationFraction: 0.3, seed: 7)
        XCTAssertEqual(fromDisk.validation.names, inMemory.validation.names)
        XCTAssertEqual(fromDisk.train.names, inMemory.train.names)
        XCTAssertEqual(fromDisk.validation.count, 3)
    }

    func testAFileThatShrinksDuringTrainingIsAnErrorNamingIt() throws {
        let corpus = try makeCorpus(count: 4)
        let files = try PairFiles.scan(noisy: corpus.noisy, clean: corpus.clean, sampleRate: 16000)
        let trainer = try makeTrainer(train: files, validation: files, epochs: 1)
        let shrunk = corpus.clean.appendingPathComponent("u1.wav")
        try TestSignals.writeWAV([0.1, 0.2], to: shrunk)
        XCTAssertThrowsError(try trainer.runEpoch()) { error in
            XCTAssertTrue("\(error)".contains(shrunk.path), "\(error)")
        }
    }

    func testAugmentationMaterialIsEveryPairUnderTheLimitElseASeededBoundedChoice() throws {
        let pairs = PairDataset(utterances: (0..<50).map {
            Utterance(name: "u\($0)", noisy: [Float](repeating: Float($0), count: 100 + $0),
                      clean: [Float](repeating: 0, count: 100 + $0))
        })
        let all = try pairs.augmentationMaterial(maxSamples: pairs.totalSamples, seed: 1)
        XCTAssertEqual(all.noise.map { $0[0] }, (0..<50).map(Float.init), "noisy − clean of every pair, in order")
        XCTAssertEqual(all.speech.map(\.count), (0..<50).map { 100 + $0 })
        XCTAssertEqual(try pairs.augmentationMaterial(maxSamples: 1000, seed: 1, noise: false).noise.count, 0)
        let some = try pairs.augmentationMaterial(maxSamples: 1000, seed: 1).noise.map { Int($0[0]) }
        XCTAssertEqual(some, some.sorted(), "in pair order")
        XCTAssertLessThanOrEqual(some.reduce(0) { $0 + 100 + $1 }, 1000)
        XCTAssertGreaterThanOrEqual(some.count, 7, "fills the budget")
        XCTAssertNotEqual(some, Array(0..<some.count), "a random choice, not the first pairs")
        XCTAssertEqual(try pairs.augmentationMaterial(maxSamples: 1000, seed: 1).noise.map { Int($0[0]) }, some)
        XCTAssertNotEqual(try pairs.augmentationMaterial(maxSamples: 1000, seed: 2).noise.map { Int($0[0]) }, some)
    }

    // MARK: - Prefetcher

    func testPrefetcherKeepsOrderStaysWithinItsDepthAndPassesErrorsOn() throws {
        let seen = Mutex((made: [Int](), aheadSeen: 0, taken: -1))
        let prefetch = BatchPrefetcher<Int>(count: 6, depth: 2) { index in
            try seen.withLock { seen in
                seen.made.append(index)
                seen.aheadSeen = max(seen.aheadSeen, index - seen.taken)
                if index == 4 { throw DatasetError.emptyValidation(index) }
                return index * 10
            }
        }
        for index in 0..<4 {
            XCTAssertEqual(try prefetch.take(index), index * 10)
            seen.withLock { $0.taken = index }
        }
        XCTAssertThrowsError(try prefetch.take(4)) { XCTAssertEqual($0 as? DatasetError, .emptyValidation(4)) }
        prefetch.finish()
        XCTAssertEqual(seen.withLock { $0.made }, Array(0..<6))
        XCTAssertLessThanOrEqual(seen.withLock { $0.aheadSeen }, 3, "at most two batches beyond the one in use")
    }

    // MARK: - Manifest

    private func writeManifest(_ text: String, in folder: URL, name: String = "pairs.csv") throws -> URL {
        let url = folder.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url
    }

    func testManifestPairsRelativeAndAbsolutePathsInAnyColumnOrder() throws {
        let corpus = try makeCorpus(count: 3)
        let text = "\u{FEFF}id,clean,noisy\r\n"
            + "a,clean/u0.wav,noisy/u0.wav\r\n"
            + "\r\n"
            + "\"b, quoted\",\"\(corpus.clean.path)/u1.wav\",\(corpus.noisy.path)/u1.wav\r\n"
        let manifest = try PairManifest.read(try writeManifest(text, in: corpus.root))
        XCTAssertEqual(manifest.rows.map(\.line), [2, 4])
        XCTAssertEqual(manifest.rows[0].noisy, "noisy/u0.wav")
        let files = try PairFiles.scan(manifest: manifest, sampleRate: 16000)
        XCTAssertEqual(files.names, ["noisy/u0.wav", "\(corpus.noisy.path)/u1.wav"])
        let fromFolders = try PairFiles.scan(noisy: corpus.noisy, clean: corpus.clean, sampleRate: 16000).loaded()
        let fromManifest = try files.loaded()
        XCTAssertEqual(fromManifest.utterances.map(\.noisy), fromFolders.utterances.prefix(2).map(\.noisy))
        XCTAssertEqual(fromManifest.utterances.map(\.clean), fromFolders.utterances.prefix(2).map(\.clean))
    }

    func testManifestErrorsNameTheFileTheLineAndTheProblem() throws {
        let corpus = try makeCorpus(count: 2)
        func error(_ text: String) throws -> String {
            let url = try writeManifest(text, in: corpus.root)
            do {
                _ = try PairManifest.read(url)
                return "no error"
            } catch { return "\(error)" }
        }
        let path = corpus.root.appendingPathComponent("pairs.csv").path
        let noColumn = try error("noisy,target\nnoisy/u0.wav,clean/u0.wav\n")
        XCTAssertTrue(noColumn.contains(path) && noColumn.contains("'clean' column"), noColumn)
        let missing = try error("noisy,clean\nnoisy/u0.wav,clean/u0.wav\nnoisy/u1.wav,clean/gone.wav\n")
        XCTAssertTrue(missing.contains("line 3") && missing.contains(corpus.root.path + "/clean/gone.wav")
                      && missing.contains("does not exist"), missing)
        let empty = try error("noisy,clean\n\n")
        XCTAssertTrue(empty.contains(path) && empty.contains("no pairs"), empty)
        XCTAssertTrue(try error("").contains("no pairs"))
        let short = try error("noisy,clean\nnoisy/u0.wav\n")
        XCTAssertTrue(short.contains("line 2") && short.contains("'clean'"), short)
        let quote = try error("noisy,clean\n\"noisy/u0.wav,clean/u0.wav\n")
        XCTAssertTrue(quote.contains("line 2") && quote.contains("quoted"), quote)
        XCTAssertThrowsError(try PairManifest.read(corpus.root.appendingPathComponent("none.csv"))) { error in
            XCTAssertTrue("\(error)".contains("none.csv") && "\(error)".contains("no such file"), "\(error)")
        }
    }
}
