import XCTest
@testable import DenoiseKit

/// Validation on what training never saw: whole speakers held out, and held-out noise mixed at fixed SNRs.
final class ValidationSplitTests: XCTestCase {
    private func pairs(_ names: [String]) -> PairDataset {
        PairDataset(utterances: names.enumerated().map { index, name in
            let clean = TestSignals.speechLike(seconds: 0.3, seed: UInt64(index + 1))
            return Utterance(name: name, noisy: clean, clean: clean)
        })
    }

    func testSpeakerAndCategoryComeFromFileNames() {
        XCTAssertEqual(ValidationSplit.speaker(ofFileName: "libri_5703_001.wav"), "libri_5703")
        XCTAssertEqual(ValidationSplit.speaker(ofFileName: "sub/ljspeech_12.wav"), "ljspeech")
        XCTAssertEqual(NoiseClip.category(ofFileName: "vehicle-bus_02.wav"), "vehicle-bus")
        XCTAssertEqual(NoiseClip.category(ofFileName: "x/rain_10.WAV"), "rain")
        XCTAssertEqual(NoiseClip.category(ofFileName: "running_tap.wav"), "running_tap", "no number: the whole stem")
        XCTAssertEqual(NoiseClip.category(ofFileName: "wind.wav"), "wind")
    }

    /// A recording on both sides is found whatever its name or folder; other recordings, a recording's excerpt and
    /// empty clips are not matches.
    func testSameRecordingsAreFoundByTheirSamplesNotTheirNames() {
        let hiss = (0..<500).map { Float(sin(Double($0) * 0.37)) * 0.1 }
        let rumble = (0..<500).map { Float(cos(Double($0) * 0.05)) * 0.2 }
        let training = [NoiseClip(name: "hiss_01.wav", samples: hiss, source: "noise"),
                        NoiseClip(name: "rumble_01.wav", samples: rumble, source: "noise"),
                        NoiseClip(name: "empty_01.wav", samples: [], source: "noise")]
        let heldOut = [NoiseClip(name: "sub/fan_07.wav", samples: hiss, source: "val"),
                       NoiseClip(name: "rumble_01.wav", samples: Array(rumble.prefix(499)), source: "val"),
                       NoiseClip(name: "empty_01.wav", samples: [], source: "val")]
        let shared = NoiseClip.sameRecordings(training, heldOut)
        XCTAssertEqual(shared.map(\.training.path), ["noise/hiss_01.wav"])
        XCTAssertEqual(shared.map(\.heldOut.path), ["val/sub/fan_07.wav"])
        XCTAssertTrue(NoiseClip.sameRecordings(training, []).isEmpty)
    }

    func testHoldingOutSpeakersTakesAllTheirPairsAndNoOtherSpeakers() throws {
        let data = pairs(["libri_367_001.wav", "libri_3670_001.wav", "sub/libri_367_002.wav", "fsdd_lucas_1.wav",
                          "fsdd_george_1.wav"])
        let (train, validation) = try ValidationSplit.holdOut(speakers: ["libri_367", "fsdd_lucas"], from: data)
        XCTAssertEqual(validation.utterances.map(\.name),
                       ["libri_367_001.wav", "sub/libri_367_002.wav", "fsdd_lucas_1.wav"])
        XCTAssertEqual(train.utterances.map(\.name), ["libri_3670_001.wav", "fsdd_george_1.wav"])
    }

    func testAnUnknownSpeakerOrNoTrainingPairsIsAnError() {
        let data = pairs(["a_1.wav", "b_1.wav"])
        XCTAssertThrowsError(try ValidationSplit.holdOut(speakers: ["a", "c"], from: data)) { error in
            XCTAssertEqual(error as? ValidationSplitError, .unknownSpeaker("c"))
            XCTAssertTrue("\(error)".contains("'c_'"), "\(error)")
        }
        XCTAssertThrowsError(try ValidationSplit.holdOut(speakers: ["a", "b"], from: data)) { error in
            XCTAssertEqual(error as? ValidationSplitError, .everyPairHeldOut(speakers: ["a", "b"]))
        }
    }

    func testHeldOutNoiseIsMixedAtTheListedSNRsWithCategoriesTakingTurns() throws {
        let data = pairs((0..<20).map { "s_\($0).wav" })
        // Category "a" has three clips and "b" one: each category still mixes half of the pairs.
        let noise = [NoiseClip(name: "a_01.wav", samples: TestSignals.whiteNoise(count: 3000, seed: 1)),
                     NoiseClip(name: "a_02.wav", samples: TestSignals.whiteNoise(count: 4000, seed: 2)),
                     NoiseClip(name: "a_03.wav", samples: TestSignals.whiteNoise(count: 5000, seed: 3)),
                     NoiseClip(name: "b_01.wav", samples: TestSignals.whiteNoise(count: 2000, seed: 4))]
        let snrs: [Float] = [-5, 0, 5, 10, 15]
        let (mixed, mixes) = try ValidationSplit.mixed(data, noise: noise, snrs: snrs, seed: 3)
        XCTAssertEqual(mixes.count, 20)
        XCTAssertEqual(mixes.filter { $0.noise.hasPrefix("b_") }.count, 10)
        for snr in snrs { XCTAssertEqual(mixes.filter { $0.snr == snr }.count, 4, "each SNR equally often") }
        XCTAssertEqual(Set(mixes.filter { $0.noise.hasPrefix("b_") }.map(\.snr)).count, 5, "a category meets every SNR")
        for (utterance, (original, mix)) in zip(mixed.utterances, zip(data.utterances, mixes)) {
            XCTAssertEqual(utterance.clean, original.clean, "the clean side is kept")
            let residual = zip(utterance.noisy, utterance.clean).map { $0 - $1 }
            let measured = 10 * log10(Mixing.meanSquare(utterance.clean) / Mixing.meanSquare(residual))
            XCTAssertEqual(measured, mix.snr, accuracy: 0.01)
        }
        let again = try ValidationSplit.mixed(data, noise: noise, snrs: snrs, seed: 3)
        XCTAssertEqual(again.mixes, mixes, "the same seed mixes the same set")
        XCTAssertNotEqual(try ValidationSplit.mixed(data, noise: noise, snrs: snrs, seed: 4).mixes, mixes)
        XCTAssertThrowsError(try ValidationSplit.mixed(data, noise: [], seed: 1)) { error in
            XCTAssertEqual(error as? ValidationSplitError, .noNoiseClips)
        }
    }
}
