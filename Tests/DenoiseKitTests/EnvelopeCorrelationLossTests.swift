import XCTest
@testable import DenoiseKit

// The intelligibility term: hand-made envelopes with known correlations, silence removal, accumulation into the
// gradient, and a finite-difference gradient check with padding and several bands.

final class EnvelopeCorrelationLossTests: XCTestCase {
    /// One bin per band, so each envelope is the bin's magnitude (up to ε).
    private let singleBins = [0..<1, 1..<2]

    private func loss(mask: Matrix, noisy: Matrix, clean: Matrix, layout: SequenceBatch, bands: [Range<Int>],
                      segment: Int, weight: Float = 1, gradient: Matrix? = nil) -> (Float, Matrix) {
        let g = gradient ?? Matrix(rows: mask.rows, cols: mask.cols, values: [Float](repeating: 0, count: mask.count))
        let value = Loss.envelopeCorrelation(mask: mask, noisyMagnitude: noisy, cleanMagnitude: clean, layout: layout,
                                             bands: bands, segmentFrames: segment, weight: weight, gradient: g)
        return (value, g)
    }

    func testEnvelopesProportionalToTheCleanOnesCostNothingAndPullNowhere() {
        // Noisy = clean and a constant mask: every enhanced envelope is half the clean one, ρ = 1.
        let frames = 8, bins = 5
        let clean = Matrix(rows: frames, cols: bins, values: (0..<(frames * bins)).map { Float(1 + ($0 * 7) % 5) })
        let mask = Matrix(rows: frames, cols: bins, values: [Float](repeating: 0.5, count: frames * bins))
        let (value, gradient) = loss(mask: mask, noisy: clean, clean: clean, layout: .single(frames: frames),
                                     bands: [0..<2, 2..<5], segment: 4)
        XCTAssertEqual(value, 0, accuracy: 1e-6)
        for g in gradient.array { XCTAssertEqual(g, 0, accuracy: 1e-6) }
    }

    func testReversedEnvelopesAreAnticorrelated() {
        // Band 0 rises 1, 2, 3, 4 in the clean and falls 4, 3, 2, 1 in the enhanced: ρ = −1. Band 1 matches: ρ = 1.
        let clean = Matrix(rows: 4, cols: 2, values: [1, 1, 2, 2, 3, 3, 4, 4])
        let noisy = Matrix(rows: 4, cols: 2, values: [4, 1, 3, 2, 2, 3, 1, 4])
        let mask = Matrix(rows: 4, cols: 2, values: [Float](repeating: 1, count: 8))
        let (value, _) = loss(mask: mask, noisy: noisy, clean: clean, layout: .single(frames: 4), bands: singleBins,
                              segment: 4)
        XCTAssertEqual(value, 1, accuracy: 1e-6)       // 1 − mean(−1, 1)
        let (reversedOnly, _) = loss(mask: mask, noisy: noisy, clean: clean, layout: .single(frames: 4),
                                     bands: [0..<1], segment: 4)
        XCTAssertEqual(reversedOnly, 2, accuracy: 1e-6)
    }

    func testSilentFramesAreLeftOutAndGetNoGradient() {
        // Frames 2 and 5 have no clean energy (more than 40 dB down): the loss equals that of the other frames
        // alone, whatever the noisy input holds there, and their gradient is zero.
        var rng = RandomGenerator(seed: 4)
        let frames = 7, bins = 3, silent: Set = [2, 5]
        let values = { (count: Int) in (0..<count).map { _ in rng.uniform(0.1, 2) } }
        let clean = Matrix(rows: frames, cols: bins, values: values(frames * bins))
        for t in silent { for k in 0..<bins { clean[t, k] = 0 } }
        let noisy = Matrix(rows: frames, cols: bins, values: values(frames * bins))
        let mask = Matrix(rows: frames, cols: bins, values: values(frames * bins))
        let (value, gradient) = loss(mask: mask, noisy: noisy, clean: clean, layout: .single(frames: frames),
                                     bands: [0..<1, 1..<3], segment: 3)

        let keptRows = (0..<frames).filter { !silent.contains($0) }
        func rows(_ m: Matrix) -> Matrix {
            Matrix(rows: keptRows.count, cols: bins, values: keptRows.flatMap { t in (0..<bins).map { m[t, $0] } })
        }
        let (keptValue, _) = loss(mask: rows(mask), noisy: rows(noisy), clean: rows(clean),
                                  layout: .single(frames: keptRows.count), bands: [0..<1, 1..<3], segment: 3)
        XCTAssertGreaterThan(value, 0.01)
        XCTAssertEqual(value, keptValue, accuracy: 1e-6)
        for t in silent { for k in 0..<bins { XCTAssertEqual(gradient[t, k], 0) } }
    }

    func testGradientIsWeightedAndAddedToWhatIsThere() {
        var rng = RandomGenerator(seed: 5)
        let frames = 6, bins = 2
        let values = { (count: Int) in (0..<count).map { _ in rng.uniform(0.1, 2) } }
        let mask = Matrix(rows: frames, cols: bins, values: values(frames * bins))
        let noisy = Matrix(rows: frames, cols: bins, values: values(frames * bins))
        let clean = Matrix(rows: frames, cols: bins, values: values(frames * bins))
        let (plainValue, plain) = loss(mask: mask, noisy: noisy, clean: clean, layout: .single(frames: frames),
                                       bands: singleBins, segment: 3)
        let start = Matrix(rows: frames, cols: bins, values: [Float](repeating: 1, count: frames * bins))
        let (addedValue, added) = loss(mask: mask, noisy: noisy, clean: clean, layout: .single(frames: frames),
                                       bands: singleBins, segment: 3, weight: 2.5, gradient: start)
        XCTAssertTrue(plain.array.contains { abs($0) > 1e-4 })
        // The value is weighted like the gradient: the term as it enters the loss.
        XCTAssertGreaterThan(plainValue, 0.01)
        XCTAssertEqual(addedValue, 2.5 * plainValue, accuracy: 1e-6)
        for (a, p) in zip(added.array, plain.array) { XCTAssertEqual(a, 1 + 2.5 * p, accuracy: 1e-5) }
    }

    func testGradientCheck() {
        // Two utterances padded to 9 frames (9 and 7 real) and a third shorter than a segment, which counts for
        // nothing; three bands over 6 bins, one bin left out of every band.
        let layout = SequenceBatch(frames: 9, lengths: [9, 7, 2])
        let bins = 6, bands = [0..<1, 1..<3, 3..<5], count = layout.rows * bins
        var rng = RandomGenerator(seed: 6)
        let mask = Matrix(rows: layout.rows, cols: bins, values: (0..<count).map { _ in rng.uniform(0.05, 1) })
        let noisy = Matrix(rows: layout.rows, cols: bins, values: (0..<count).map { _ in rng.uniform(0.2, 3) })
        let clean = Matrix(rows: layout.rows, cols: bins, values: (0..<count).map { _ in rng.uniform(0.1, 2) })
        fillPaddingRows(mask, layout, with: paddingGarbage)
        fillPaddingRows(noisy, layout, with: paddingGarbage)
        fillPaddingRows(clean, layout, with: paddingGarbage)
        let (_, analytic) = loss(mask: mask, noisy: noisy, clean: clean, layout: layout, bands: bands, segment: 4)
        let tolerance = Tolerance(absolute: 2e-5, relative: 1e-2)
        let h: Float = 1e-3
        var checked = 0
        for row in 0..<layout.rows {
            for bin in 0..<bins {
                let g = Double(analytic[row, bin])
                let inBand = bands.contains { $0.contains(bin) }
                if !layout.isReal(row: row) || row / layout.frames == 2 || !inBand {
                    XCTAssertEqual(g, 0, "row \(row) bin \(bin) cannot move the loss")
                    continue
                }
                let m = mask[row, bin]
                mask[row, bin] = m + h
                let plus = loss(mask: mask, noisy: noisy, clean: clean, layout: layout, bands: bands, segment: 4).0
                mask[row, bin] = m - h
                let minus = loss(mask: mask, noisy: noisy, clean: clean, layout: layout, bands: bands, segment: 4).0
                mask[row, bin] = m
                let numeric = Double(plus - minus) / Double(2 * h)
                XCTAssertTrue(tolerance.accepts(g, numeric), "row \(row) bin \(bin): analytic \(g), numeric \(numeric)")
                checked += 1
            }
        }
        XCTAssertEqual(checked, 16 * 5)
    }

    func testSTOIBandsOnTheModelGrid() {
        // 16 kHz, 512 points: 31.25 Hz bins; 15 ascending, disjoint bands from 150 Hz to about 4.3 kHz.
        let bands = STOI.bandEdges(sampleRate: 16000, fftSize: 512)
        XCTAssertEqual(bands.count, 15)
        XCTAssertEqual(bands.first, 4..<5)                  // 133.6 ... 168.4 Hz
        XCTAssertEqual(bands.last, 109..<137)               // 3394 ... 4277 Hz
        for (a, b) in zip(bands, bands.dropFirst()) { XCTAssertEqual(a.upperBound, b.lowerBound) }
        XCTAssertEqual(STOIConstants.segmentDuration, 0.384, accuracy: 1e-12)
    }
}
