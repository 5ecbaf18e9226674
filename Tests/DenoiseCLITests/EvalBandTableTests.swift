@testable import DenoiseKit
@testable import denoise
import XCTest

/// `EvalCommand.bandTable` on made-up scores, so that its means, columns and notes can be checked exactly.
final class EvalBandTableTests: XCTestCase {
    /// Scores of one file whose STOI bands are `bands` and, when `noisyBands` is not nil, whose noisy input's are
    /// `noisyBands` ([] for a noisy input too short to score); the other metrics do not matter here.
    private func file(_ name: String, bands: [Double]?, noisyBands: [Double]? = nil) -> FileScores {
        FileScores(name: name, siSDR: 0, snr: 0, segmentalSNR: 0, stoi: 0, stoiBands: bands,
                   noisy: noisyBands.map { _ in (siSDR: 0, snr: 0, segmentalSNR: 0, stoi: 0) },
                   noisyStoiBands: noisyBands.flatMap { $0.isEmpty ? nil : $0 })
    }

    private let rising = (0..<15).map { 0.5 + 0.02 * Double($0) }

    func testBandTableAveragesEachBandOverTheFilesThatHaveBands() {
        let table = EvalCommand.bandTable([
            file("a.wav", bands: rising, noisyBands: Array(repeating: 0.4, count: 15)),
            file("b.wav", bands: rising.map { $0 + 0.2 }, noisyBands: Array(repeating: 0.2, count: 15)),
            file("short.wav", bands: nil, noisyBands: []),
        ])
        let lines = table.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 18, table)
        XCTAssertEqual(lines[0], "STOI per one-third-octave band, mean of 2 files:")
        XCTAssertEqual(lines[1], "band Hz     enhanced        noisy  improvement")
        XCTAssertEqual(lines[2], "150            0.600        0.300       +0.300")
        XCTAssertEqual(lines[16], "3810           0.880        0.300       +0.580")
        XCTAssertEqual(lines[17], "left out: 1 file too short for STOI (under about 0.4 s of speech)")
    }

    func testBandTableShowsOnlyTheEnhancedColumnUnlessEveryFileHasANoisyInput() {
        let table = EvalCommand.bandTable([
            file("a.wav", bands: rising, noisyBands: rising),
            file("b.wav", bands: rising),
        ])
        let lines = table.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 17, table)
        XCTAssertEqual(lines[1], "band Hz     enhanced")
        XCTAssertEqual(lines[2], "150            0.500")
    }

    func testBandTableGainsKeepTheirSignAndALossTooSmallToShowReadsPlusZero() {
        let table = EvalCommand.bandTable([
            file("a.wav", bands: [0.5, 0.5] + rising.dropFirst(2), noisyBands: [0.5002, 0.502] + rising.dropFirst(2)),
        ])
        let lines = table.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines[2], "150            0.500        0.500       +0.000")
        XCTAssertEqual(lines[3], "189            0.500        0.502       -0.002")
        XCTAssertFalse(table.contains("left out"), table)
    }

    func testBandTableOfOnlyTooShortFilesSaysThereIsNothingToAverage() {
        XCTAssertEqual(EvalCommand.bandTable([file("a.wav", bands: nil), file("b.wav", bands: nil)]),
                       "STOI per one-third-octave band: no file to average\n"
                           + "left out: 2 files too short for STOI (under about 0.4 s of speech)\n")
    }
}
