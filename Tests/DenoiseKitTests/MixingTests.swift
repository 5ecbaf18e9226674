@testable import DenoiseKit
import Foundation
import XCTest

final class MixingTests: XCTestCase {
    private func power(_ x: [Float]) -> Double {
        x.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(x.count)
    }

    private func speechLike(count: Int, seed: UInt64) -> [Float] {
        var generator = RandomGenerator(seed: seed)
        return (0..<count).map { n in
            let envelope = 0.5 + 0.5 * sin(2 * Double.pi * 4 * Double(n) / 16000)
            return Float(envelope * 0.3 * sin(2 * Double.pi * 150 * Double(n) / 16000)) + 0.01 * generator.normal()
        }
    }

    func testMeanSquareIsAverageOfSquares() {
        XCTAssertEqual(Mixing.meanSquare([1, -1, 2, 0]), 1.5)
        XCTAssertEqual(Mixing.meanSquare([]), 0)
    }

    func testMixReachesRequestedSNRWithinOneHundredthOfADecibel() {
        let clean = speechLike(count: 16000, seed: 1)
        var generator = RandomGenerator(seed: 2)
        let shortNoise = (0..<3001).map { _ in generator.normal() * 0.2 }       // looped
        let longNoise = (0..<40000).map { _ in generator.uniform(-1, 1) }       // cropped
        for noise in [shortNoise, longNoise] {
            for snr: Float in [-5, 0, 7.5, 20, 40] {
                let mixed = Mixing.mix(clean: clean, noise: noise, snrDB: snr)
                XCTAssertEqual(mixed.count, clean.count)
                let residual = zip(mixed, clean).map { $0 - $1 }
                let measured = 10 * log10(power(clean) / power(residual))
                XCTAssertEqual(measured, Double(snr), accuracy: 0.01, "noise of \(noise.count) samples at \(snr) dB")
            }
        }
    }

    func testShortNoiseIsLoopedAndLongNoiseCropped() {
        let clean: [Float] = [1, -1, 1, -1, 1, -1, 1]
        let looped = Mixing.scaleNoise([1, 2, 3], toSNR: 0, against: clean)
        XCTAssertEqual(looped.count, 7)
        let gain = looped[0]
        for (i, value) in looped.enumerated() {
            XCTAssertEqual(value, gain * Float([1, 2, 3][i % 3]), accuracy: 1e-6)
        }
        // 0 dB: the scaled noise has the clean power, 1.
        XCTAssertEqual(power(looped), 1, accuracy: 1e-6)
        let cropped = Mixing.scaleNoise([Float](repeating: 0.5, count: 100), toSNR: 6, against: clean)
        XCTAssertEqual(cropped.count, 7)
        XCTAssertEqual(10 * log10(1 / power(cropped)), 6, accuracy: 1e-4)
    }

    func testSilentOrEmptyNoiseAndSilentSpeechGiveZerosNotNaN() {
        let clean = speechLike(count: 800, seed: 3)
        for noise in [[Float](repeating: 0, count: 300), []] {
            let scaled = Mixing.scaleNoise(noise, toSNR: 10, against: clean)
            XCTAssertEqual(scaled, [Float](repeating: 0, count: clean.count))
            XCTAssertEqual(Mixing.mix(clean: clean, noise: noise, snrDB: 10), clean)
        }
        let silence = [Float](repeating: 0, count: 500)
        let mixed = Mixing.mix(clean: silence, noise: [0.3, -0.2, 0.1], snrDB: 5)
        XCTAssertTrue(mixed.allSatisfy { $0.isFinite && $0 == 0 })
        XCTAssertEqual(Mixing.mix(clean: [], noise: [1, 2], snrDB: 0), [])
    }
}
