import XCTest
@testable import DenoiseKit

/// The real-world conditions of `Augmentation`: rooms, telephone channels, low SNRs, level changes, clipping and
/// the noises that vary in time. Each test checks that a condition does what its documentation says.
final class AugmentationTests: XCTestCase {
    private func energy(_ x: ArraySlice<Float>) -> Double { x.reduce(0) { $0 + Double($1) * Double($1) } }

    /// Only the listed conditions on, each at share 1.
    private func conditions(_ set: (inout AugmentationOptions) -> Void) -> AugmentationOptions {
        var options = AugmentationOptions.none
        set(&options)
        return options
    }

    /// A unit sine of `frequency` Hz, `count` samples at 16 kHz (whole cycles in `count`).
    private func tone(_ frequency: Double, count: Int = 16000) -> [Float] {
        MetricsTestSignals.sine(cycles: Int(frequency) * count / 16000, count: count, amplitude: 1)
    }

    /// Power of the `frequency` component of `x` (sampled at 16 kHz): its DFT bin's squared magnitude over n².
    private func tonePower(_ x: [Double], frequency: Double) -> Double {
        var re = 0.0, im = 0.0
        for (n, value) in x.enumerated() {
            re += value * cos(2 * Double.pi * frequency * Double(n) / 16000)
            im -= value * sin(2 * Double.pi * frequency * Double(n) / 16000)
        }
        return (re * re + im * im) / Double(x.count * x.count)
    }

    private func snr(noisy: [Float], target: [Float]) -> Float {
        10 * log10(Mixing.meanSquare(target) / Mixing.meanSquare(zip(noisy, target).map { $0 - $1 }))
    }

    // MARK: - Recorded noise

    func testNoisePoolDrawsSourcesThenCategoriesEquallyOften() {
        // Source "a": one clip. Source "b": three categories with 1, 2 and 6 clips. Clips are told apart by value.
        var clips = [NoiseClip(name: "x.wav", samples: [0], source: "a")]
        for (value, (category, count)) in [("p", 1), ("q", 2), ("r", 6)].enumerated() {
            for i in 0..<count {
                clips.append(NoiseClip(name: "\(category)_0\(i).wav", samples: [Float(value + 1)], source: "b"))
            }
        }
        let pool = NoisePool(clips)
        var rng = RandomGenerator(seed: 1)
        var counts = [Float: Int]()
        let draws = 12000
        for _ in 0..<draws { counts[pool.draw(rng: &rng)[0], default: 0] += 1 }
        XCTAssertEqual(Double(counts[0] ?? 0) / Double(draws), 0.5, accuracy: 0.02, "each source half the time")
        for value: Float in [1, 2, 3] {
            XCTAssertEqual(Double(counts[value] ?? 0) / Double(draws), 1.0 / 6, accuracy: 0.02,
                           "each of b's categories a third of b's draws, however many clips it has")
        }
        XCTAssertTrue(NoisePool([]).isEmpty)

        // Drawn by clip instead, each of the ten clips a tenth of the time, whatever its source and category.
        let byClip = NoisePool(clips, draw: .clips)
        counts = [:]
        for _ in 0..<draws { counts[byClip.draw(rng: &rng)[0], default: 0] += 1 }
        for (value, clipCount) in [(Float(0), 1), (1, 1), (2, 2), (3, 6)] {
            XCTAssertEqual(Double(counts[value] ?? 0) / Double(draws), Double(clipCount) / 10, accuracy: 0.02,
                           "value \(value): \(clipCount) of the 10 clips")
        }
        XCTAssertTrue(NoisePool([], draw: .clips).isEmpty)
    }

    // MARK: - Rooms

    func testFFTConvolutionMatchesDirectConvolution() {
        var rng = RandomGenerator(seed: 3)
        let x = (0..<1000).map { _ in rng.normal() }, h = (0..<300).map { _ in rng.normal() * 0.1 }
        let fast = FFTConvolution.convolve(x, with: [h, [2]])
        XCTAssertEqual(fast[0].count, x.count)
        for n in stride(from: 0, to: x.count, by: 37) {
            var direct: Float = 0
            for k in 0...min(n, h.count - 1) { direct += h[k] * x[n - k] }
            XCTAssertEqual(fast[0][n], direct, accuracy: 1e-4, "sample \(n)")
            XCTAssertEqual(fast[1][n], 2 * x[n], accuracy: 1e-4)
        }
    }

    func testSyntheticResponseDecaysAtTheRequestedRT60() throws {
        var rng = RandomGenerator(seed: 11)
        for rt60 in [0.2, 0.5, 1.0] {
            let response = RoomImpulseResponse.synthetic(rt60: rt60, directToReverberantDB: 0, sampleRate: 16000,
                                                         rng: &rng)
            let measured = try XCTUnwrap(response.decayTime, "RT60 \(rt60)")
            XCTAssertEqual(measured, rt60, accuracy: 0.1 * rt60, "asked for \(rt60) s")
            XCTAssertEqual(response.samples[0], 1, "the direct path comes first")
            // The tail carries the energy asked for: 0 dB direct-to-reverberant ratio.
            XCTAssertEqual(energy(response.samples.dropFirst()), 1, accuracy: 1e-3)
        }
    }

    func testMeasuredResponseStartsAtItsDirectPath() {
        // 20 samples of silence, a direct path, then a reflection larger than 6 dB below it.
        var samples = [Float](repeating: 0, count: 2000)
        samples[20] = -0.8
        samples[60] = 1
        for i in 61..<2000 { samples[i] = 0.3 * Float(exp(-Double(i - 60) / 50)) }
        let response = RoomImpulseResponse(measured: samples, sampleRate: 16000)
        XCTAssertEqual(response.directPathIndex, 16, "1 ms of lead kept")
        XCTAssertEqual(response.samples[response.directPathIndex], -0.8)
        XCTAssertEqual(response.samples.count, 2000 - 4)
        XCTAssertEqual(response.early.count, 16 + 800 + 1, "up to 50 ms after the direct path")
    }

    func testEarlyReverberantTargetKeepsTheDirectPathAndDropsTheLateTail() {
        var rng = RandomGenerator(seed: 5)
        let response = RoomImpulseResponse.synthetic(rt60: 0.6, directToReverberantDB: 0, sampleRate: 16000,
                                                     rng: &rng)
        var click = [Float](repeating: 0, count: 16000)
        click[1000] = 1
        let (reverberant, target) = Reverberation.apply(response, to: click)
        XCTAssertEqual(target.count, click.count)
        // The direct path stays where the click was, in input and target alike, and is the target's largest sample.
        let largest = target.indices.max { abs(target[$0]) < abs(target[$1]) }
        XCTAssertEqual(largest, 1000)
        XCTAssertEqual(reverberant[1000], target[1000], accuracy: 1e-5)
        XCTAssertTrue(target[..<1000].allSatisfy { abs($0) < 1e-4 }, "nothing before the direct sound")
        // 50 ms after the direct sound the target is silent; the input still rings.
        let lateStart = 1000 + Int(RoomImpulseResponse.earlyDuration * 16000) + 2
        XCTAssertLessThan(energy(target[lateStart...]), 1e-7)
        XCTAssertGreaterThan(energy(reverberant[lateStart...]), 0.05 * energy(reverberant[...]))
        // The target has the energy of the dry signal.
        XCTAssertEqual(energy(target[...]), 1, accuracy: 1e-3)
    }

    func testReverberationInRemixReverberatesTheInputAndNotTheTargetTail() {
        var rng = RandomGenerator(seed: 9)
        var click = [Float](repeating: 0, count: 16000)
        click[100] = 1
        let augmentation = Augmentation(kinds: [], noiseClips: [], speech: [], sampleRate: 16000,
                                        conditions: conditions { $0.reverbShare = 1 })
        for _ in 0..<5 {
            let (noisy, target) = augmentation.remix(clean: click, rng: &rng)
            let lateStart = 100 + Int(RoomImpulseResponse.earlyDuration * 16000) + 2
            XCTAssertLessThan(energy(target[lateStart...]), 1e-7, "the target ends 50 ms after the direct sound")
            XCTAssertGreaterThan(energy(noisy[lateStart...]), 1e-3, "the input goes on ringing")
        }
    }

    func testMeasuredResponsesReadTheModelRateFilesWhenPresent() throws {
        guard let data = TestSignals.sharedData else {
            throw XCTSkip("../shared/data is absent: cannot read the measured room impulse responses")
        }
        let folder = data.appendingPathComponent("rir")
        guard FileManager.default.fileExists(atPath: folder.path) else { throw XCTSkip("\(folder.path) is absent") }
        let responses = try RoomImpulseResponse.load(from: folder, sampleRate: 16000)
        XCTAssertEqual(responses.count, 7, "one of each room, the 16 kHz file")
        for response in responses {
            // These files put their direct path, scaled to +1, 1 ms from their start.
            XCTAssertEqual(response.samples.prefix(32).max() ?? 0, 1, accuracy: 1e-3, "starts by its direct path")
            XCTAssertLessThanOrEqual(response.directPathIndex, 16)
            XCTAssertLessThanOrEqual(response.samples.count, Int(RoomImpulseResponse.maximumDuration * 16000))
        }
    }

    // MARK: - Telephone channel

    func testNarrowbandRemovesEverythingAbove4kHzAndKeepsTheBandBelow() {
        var rng = RandomGenerator(seed: 1)
        let white = (0..<16000).map { _ in 0.1 * rng.normal() }
        let phone = Narrowband.telephone(white, sampleRate: 16000)
        XCTAssertEqual(phone.count, white.count)
        let fft = RealFFT(size: 16000)
        func bandEnergies(_ x: [Float]) -> (below: Double, above: Double) {
            var spectrum = [Float](repeating: 0, count: 2 * fft.bins)
            x.withUnsafeBufferPointer { p in
                spectrum.withUnsafeMutableBufferPointer { fft.forward(p.baseAddress!, $0.baseAddress!) }
            }
            var below = 0.0, above = 0.0
            for bin in 0..<fft.bins {   // 1 Hz per bin
                let (re, im) = (spectrum[2 * bin], spectrum[2 * bin + 1])
                let power = Double(re * re + im * im)
                if bin >= 4000 { above += power } else if bin >= 100 && bin < 3500 { below += power }
            }
            return (below, above)
        }
        let before = bandEnergies(white), after = bandEnergies(phone)
        XCTAssertLessThan(after.above / before.above, 1e-5, "more than 50 dB down above 4 kHz")
        XCTAssertEqual(10 * log10(after.below / before.below), 0, accuracy: 0.1, "0.1–3.5 kHz kept")
    }

    func testMuLawRoundTripErrorIsBoundedByHalfAStep() {
        // Half a step of the compressed value, 1/254, mapped back through the expansion: the error bound grows with
        // the level, |e| ≤ (1/µ + |x|)·((1 + µ)^(1/254) − 1), about 2.2% of the level plus 1e-4 of full scale.
        let mu = Double(Narrowband.mu)
        let stepFactor = pow(1 + mu, 1 / (2 * Double(Narrowband.levelsPerPolarity))) - 1
        var worst = 0.0
        var outputs = Set<Float>()
        for i in -20000...20000 {
            let x = Float(i) / 20000
            let y = Narrowband.muLawRoundTrip(x)
            outputs.insert(y)
            let error = Double(abs(y - x)), bound = (1 / mu + Double(abs(x))) * stepFactor + 1e-6
            XCTAssertLessThanOrEqual(error, bound, "x = \(x)")
            worst = max(worst, error)
        }
        XCTAssertGreaterThan(worst, 1e-3, "the code quantises")
        XCTAssertLessThanOrEqual(outputs.count, 255, "8 bits: 2 × 127 levels and zero")
        XCTAssertEqual(Narrowband.muLawRoundTrip(1.5), 1, accuracy: 1e-6, "beyond full scale is clipped")
        XCTAssertEqual(Narrowband.muLawRoundTrip(-0.3), -Narrowband.muLawRoundTrip(0.3), "odd symmetric")
    }

    func testNarrowbandRemixBandLimitsInputAndTarget() {
        var rng = RandomGenerator(seed: 4)
        let augmentation = Augmentation(kinds: [.colored], snrRange: 10...10, noiseClips: [], speech: [],
                                        sampleRate: 16000, conditions: conditions { $0.narrowbandShare = 1 })
        let white = (0..<8000).map { _ in 0.1 * rng.normal() }
        let (noisy, target) = augmentation.remix(clean: white, rng: &rng)
        XCTAssertEqual(target, Narrowband.telephone(white, sampleRate: 16000))
        XCTAssertNotEqual(noisy, target)
    }

    // MARK: - SNR, level, clipping

    func testLowSNRShareMixesInTheLowRange() {
        var rng = RandomGenerator(seed: 6)
        let clean = TestSignals.speechLike(seconds: 0.5)
        let low = Augmentation(kinds: [.colored], snrRange: 20...20, noiseClips: [], speech: [], sampleRate: 16000,
                               conditions: conditions { $0.lowSNRShare = 1 })
        var seen: [Float] = []
        for _ in 0..<20 {
            let (noisy, target) = low.remix(clean: clean, rng: &rng)
            seen.append(snr(noisy: noisy, target: target))
        }
        XCTAssertTrue(seen.allSatisfy { (-5.05...5.05).contains($0) }, "\(seen)")
        XCTAssertGreaterThan((seen.max() ?? 0) - (seen.min() ?? 0), 5, "drawn across the range")
        let usual = Augmentation(kinds: [.colored], snrRange: 20...20, noiseClips: [], speech: [], sampleRate: 16000,
                                 conditions: .none)
        let (noisy, target) = usual.remix(clean: clean, rng: &rng)
        XCTAssertEqual(snr(noisy: noisy, target: target), 20, accuracy: 0.05)
    }

    func testSpeedChangeScalesFrequencyAndLengthOfInputAndTargetAlike() {
        // A 1 kHz tone, 0.5 s: at 110% it lasts 0.5 / 1.1 s and sounds at 1.1 kHz, in the input and the target.
        let count = 8000
        let tone = self.tone(1000, count: count)
        func power(_ x: [Float], at f: Double) -> Double { tonePower(x.map(Double.init), frequency: f) }
        var rng = RandomGenerator(seed: 13)
        let faster = Augmentation(kinds: [], noiseClips: [], speech: [], sampleRate: 16000,
                                  conditions: conditions { $0.speedShare = 1; $0.speedRange = 1.1...1.1 })
        let (noisy, target) = faster.remix(clean: tone, rng: &rng)
        XCTAssertEqual(noisy, target, "no noise kind: the input is the changed speech")
        XCTAssertEqual(target.count, Int((Double(count) / 1.1).rounded(.up)))
        XCTAssertGreaterThan(10 * log10(power(target, at: 1100) / power(target, at: 1000)), 30)
        XCTAssertEqual(power(target, at: 1100), 0.25, accuracy: 0.01, "amplitude kept")

        // Drawn across the range, in whole percents: lengths of n / 0.9 ... n / 1.1 and nothing else.
        let drawn = Augmentation(kinds: [], noiseClips: [], speech: [], sampleRate: 16000,
                                 conditions: conditions { $0.speedShare = 1 })
        let allowed = Set((90...110).map { Int((Double(count) * 100 / Double($0)).rounded(.up)) })
        var lengths = Set<Int>()
        for _ in 0..<40 { lengths.insert(drawn.remix(clean: tone, rng: &rng).clean.count) }
        XCTAssertTrue(lengths.isSubset(of: allowed), "\(lengths.sorted())")
        XCTAssertGreaterThan(lengths.count, 10, "drawn across the range")
        XCTAssertTrue(lengths.contains { $0 > count } && lengths.contains { $0 < count }, "slower and faster")

        let unchanged = Augmentation(kinds: [], noiseClips: [], speech: [], sampleRate: 16000, conditions: .none)
        XCTAssertEqual(unchanged.remix(clean: tone, rng: &rng).clean, tone)
        XCTAssertEqual(AugmentationOptions().speedShare, 0, "off by default")
        XCTAssertFalse(conditions { $0.speedShare = 2 }.isValid)
        XCTAssertFalse(conditions { $0.speedRange = 0.1...1 }.isValid)
    }

    func testSecondNoiseAddsAnotherDrawBelowTheFirstAndKeepsTheSNR() {
        // Two recorded clips told apart by frequency: a 500 Hz and a 2 kHz tone, whole cycles in 0.5 s and in 1 s.
        let tones: [Float] = [500, 2000]
        let clips = tones.map { tone(Double($0)) }
        let clean = TestSignals.speechLike(seconds: 0.5)
        /// Power of each tone in the noise that `remix` added (the target is the clean signal: no condition is on).
        func tonePowers(_ augmentation: Augmentation, rng: inout RandomGenerator) -> (snr: Float, powers: [Double]) {
            let (noisy, target) = augmentation.remix(clean: clean, rng: &rng)
            XCTAssertEqual(target, clean)
            let noise = zip(noisy, target).map { Double($0 - $1) }
            let powers = tones.map { tonePower(noise, frequency: Double($0)) }
            return (snr(noisy: noisy, target: target), powers)
        }
        var rng = RandomGenerator(seed: 12)
        let two = Augmentation(kinds: [.recorded], snrRange: 5...5, noiseClips: clips, speech: [], sampleRate: 16000,
                               conditions: conditions { $0.secondNoiseShare = 1 })
        var both = 0
        for _ in 0..<40 {
            let (snr, powers) = tonePowers(two, rng: &rng)
            XCTAssertEqual(snr, 5, accuracy: 0.05, "the pair of noises is scaled to the drawn SNR together")
            let ratioDB = 10 * log10((powers.min() ?? 0) / (powers.max() ?? 1))
            guard ratioDB > -30 else { continue }  // the same clip twice
            both += 1
            XCTAssertGreaterThanOrEqual(ratioDB, -10.1, "the second noise lies within 10 dB of the first")
        }
        XCTAssertGreaterThan(both, 10, "about half the second draws are the other clip")

        let one = Augmentation(kinds: [.recorded], snrRange: 5...5, noiseClips: clips, speech: [], sampleRate: 16000,
                               conditions: .none)
        for _ in 0..<20 {
            let (_, powers) = tonePowers(one, rng: &rng)
            XCTAssertLessThan(10 * log10((powers.min() ?? 0) / (powers.max() ?? 1) + 1e-30), -60, "one noise only")
        }
        XCTAssertEqual(AugmentationOptions().secondNoiseShare, 0, "off by default")
        XCTAssertFalse(conditions { $0.secondNoiseShare = -0.1 }.isValid)
    }

    func testNoiseSourcesSumsMoreNoisesEachBelowTheFirst() {
        // Three recorded clips told apart by frequency, whole cycles in 0.5 s and in 1 s.
        let tones: [Float] = [500, 1000, 2000]
        let clips = tones.map { tone(Double($0)) }
        let clean = TestSignals.speechLike(seconds: 0.5)
        /// How many tones the added noise holds (within 30 dB of the loudest), and the spread of their powers in dB.
        func bed(_ sources: ClosedRange<Int>, rng: inout RandomGenerator) -> (tones: Int, spreadDB: Double) {
            let augmentation = Augmentation(
                kinds: [.recorded], snrRange: 5...5, noiseClips: clips, speech: [], sampleRate: 16000,
                conditions: conditions { $0.secondNoiseShare = 1; $0.noiseSources = sources })
            let (noisy, target) = augmentation.remix(clean: clean, rng: &rng)
            XCTAssertEqual(snr(noisy: noisy, target: target), 5, accuracy: 0.05, "the bed is scaled to the SNR")
            let powers = tones.map { tonePower(zip(noisy, target).map { Double($0 - $1) }, frequency: Double($0)) }
            let loudest = powers.max() ?? 1
            let present = powers.filter { 10 * log10($0 / loudest) > -30 }
            return (present.count, 10 * log10((present.min() ?? loudest) / loudest))
        }
        var rng = RandomGenerator(seed: 31)
        var threeKinds = 0
        for _ in 0..<60 {
            let (count, spreadDB) = bed(3...3, rng: &rng)
            guard count == 3 else { continue }  // a clip drawn twice
            threeKinds += 1
            XCTAssertGreaterThanOrEqual(spreadDB, -10.1, "each further noise lies within 10 dB of the first")
        }
        XCTAssertGreaterThan(threeKinds, 5, "about two draws in nine are three different clips")
        for _ in 0..<40 {
            XCTAssertLessThanOrEqual(bed(2...2, rng: &rng).tones, 2, "the default sums two noises")
        }
        XCTAssertEqual(AugmentationOptions().noiseSources, 2...2)
        XCTAssertFalse(conditions { $0.noiseSources = 1...3 }.isValid)
    }

    func testPeakingFilterHasItsGainAtTheCentreAndNoneAtDCOrNyquist() {
        /// Steady-state gain in dB of `filter` for a sampled `signal` (the first half is left for the transient).
        func gainDB(_ filter: Biquad, _ signal: [Float]) -> Double {
            var y = signal
            filter.apply(&y)
            return 10 * log10(energy(y[8000...]) / energy(signal[8000...]))
        }
        let tone = self.tone(1000)
        let dc = [Float](repeating: 1, count: 16000)
        let nyquist = (0..<16000).map { Float($0 % 2 == 0 ? 1 : -1) }
        for gain: Float in [12, -12, 5] {
            let filter = Biquad.peaking(centre: 1000, gainDB: gain, q: 1, sampleRate: 16000)
            XCTAssertEqual(gainDB(filter, tone), Double(gain), accuracy: 0.02, "the gain at the centre")
            XCTAssertEqual(gainDB(filter, dc), 0, accuracy: 0.01, "none at DC")
            XCTAssertEqual(gainDB(filter, nyquist), 0, accuracy: 0.01, "none at Nyquist")
        }
    }

    func testNoiseEQColoursTheNoiseAndKeepsTheSNR() {
        // A recorded "clip" of three equal tones (whole cycles in a second), whose balance the filters change.
        let tones: [Double] = [250, 1000, 4000]
        let clip = (0..<16000).map { n in
            Float(tones.map { sin(2 * Double.pi * $0 * Double(n) / 16000) }.reduce(0, +))
        }
        let clean = TestSignals.speechLike(seconds: 0.5)
        /// The loudest tone over the quietest in the noise that `remix` added, dB, and the example's SNR.
        func spreadDB(_ augmentation: Augmentation, rng: inout RandomGenerator) -> (snr: Float, spread: Double) {
            let (noisy, target) = augmentation.remix(clean: clean, rng: &rng)
            XCTAssertEqual(target, clean)
            let noise = zip(noisy, target).map { Double($0 - $1) }
            let powers = tones.map { tonePower(noise, frequency: $0) }
            return (snr(noisy: noisy, target: target), 10 * log10((powers.max() ?? 1) / (powers.min() ?? 1)))
        }
        var rng = RandomGenerator(seed: 13)
        let coloured = Augmentation(kinds: [.recorded], snrRange: 5...5, noiseClips: [clip], speech: [],
                                    sampleRate: 16000, conditions: conditions { $0.noiseEQShare = 1 })
        var spreads: [Double] = []
        for _ in 0..<30 {
            let (snr, spread) = spreadDB(coloured, rng: &rng)
            XCTAssertEqual(snr, 5, accuracy: 0.05, "the coloured noise is scaled to the drawn SNR")
            spreads.append(spread)
        }
        XCTAssertGreaterThanOrEqual(spreads.filter { $0 > 3 }.count, 15, "the filters move the balance: \(spreads)")
        XCTAssertGreaterThan(spreads.max() ?? 0, 12, "by more than one filter's gain at times")
        XCTAssertLessThan(spreads.max() ?? 0, 72, "at most three filters of 12 dB each way")

        let plain = Augmentation(kinds: [.recorded], snrRange: 5...5, noiseClips: [clip], speech: [],
                                 sampleRate: 16000, conditions: .none)
        for _ in 0..<10 {
            XCTAssertLessThan(spreadDB(plain, rng: &rng).spread, 0.1, "without it the tones stay equal")
        }
        XCTAssertEqual(AugmentationOptions().noiseEQShare, 0, "off by default")
        XCTAssertFalse(conditions { $0.noiseEQShare = 1.5 }.isValid)
    }

    func testLevelChangeScalesInputAndTargetAlikeWithinTwentyDecibels() {
        var rng = RandomGenerator(seed: 7)
        let clean = TestSignals.speechLike(seconds: 0.5)
        let augmentation = Augmentation(kinds: [.colored], snrRange: 7...7, noiseClips: [], speech: [],
                                        sampleRate: 16000, conditions: conditions { $0.levelShare = 1 })
        var gains: [Float] = []
        for _ in 0..<30 {
            let (noisy, target) = augmentation.remix(clean: clean, rng: &rng)
            let gainDB = 10 * log10(Mixing.meanSquare(target) / Mixing.meanSquare(clean))
            XCTAssertLessThanOrEqual(abs(gainDB), 20.01)
            XCTAssertEqual(snr(noisy: noisy, target: target), 7, accuracy: 0.05, "the SNR is kept")
            gains.append(gainDB)
        }
        XCTAssertGreaterThan((gains.max() ?? 0) - (gains.min() ?? 0), 20, "louder and quieter: \(gains)")
    }

    func testClippingCutsTheInputButNotTheTarget() {
        var rng = RandomGenerator(seed: 8)
        let clean = TestSignals.speechLike(seconds: 0.5)
        let augmentation = Augmentation(kinds: [.colored], snrRange: 10...10, noiseClips: [], speech: [],
                                        sampleRate: 16000, conditions: conditions { $0.clippingShare = 1 })
        let (noisy, target) = augmentation.remix(clean: clean, rng: &rng)
        XCTAssertEqual(target, clean)
        let limit = noisy.reduce(0) { max($0, abs($1)) }
        let unclippedPeak = zip(clean, noisy).reduce(Float(0)) { max($0, abs($1.0)) }
        XCTAssertLessThan(limit, 0.71 * unclippedPeak * 1.5, "well below where the speech alone peaks")
        let atLimit = noisy.filter { abs($0) == limit }.count
        XCTAssertGreaterThan(atLimit, 10, "a flat top, not one peak")
    }

    /// `clean` remixed with coloured noise at 5 dB under `conditions`, and the same draws with every condition off:
    /// a condition drawn after the others changes only what it says it does.
    private func remixedWithAndWithout(_ conditions: AugmentationOptions, clean: [Float], seed: UInt64)
        -> (with: (noisy: [Float], clean: [Float]), without: (noisy: [Float], clean: [Float])) {
        var rng = RandomGenerator(seed: seed), plainRNG = rng
        let with = Augmentation(kinds: [.colored], snrRange: 5...5, noiseClips: [], speech: [], sampleRate: 16000,
                                conditions: conditions).remix(clean: clean, rng: &rng)
        let without = Augmentation(kinds: [.colored], snrRange: 5...5, noiseClips: [], speech: [], sampleRate: 16000,
                                   conditions: .none).remix(clean: clean, rng: &plainRNG)
        return (with, without)
    }

    /// Leading silence zeroes the start of input and target alike, for 0.2–2 s, and leaves the rest as remixed
    /// without it; at share 0 no draw is made, so a run without it draws the same examples as before it existed.
    func testLeadingSilenceZeroesTheStartOfInputAndTarget() {
        let clean = TestSignals.speechLike(seconds: 3)
        var lengths: [Int] = []
        for seed in 0..<12 {
            let ((noisy, target), (plainNoisy, plainTarget)) = remixedWithAndWithout(
                conditions { $0.leadingSilenceShare = 1 }, clean: clean, seed: UInt64(seed))
            let zeros = noisy.firstIndex { $0 != 0 } ?? noisy.count
            XCTAssertTrue((3200...32000).contains(zeros), "\(zeros) samples of silence")
            XCTAssertTrue(target.prefix(zeros).allSatisfy { $0 == 0 })
            XCTAssertEqual(Array(noisy[zeros...]), Array(plainNoisy[zeros...]), "the rest as without it")
            XCTAssertEqual(Array(target[zeros...]), Array(plainTarget[zeros...]))
            lengths.append(zeros)
        }
        XCTAssertGreaterThan((lengths.max() ?? 0) - (lengths.min() ?? 0), 8000, "lengths drawn: \(lengths)")
        // Share 0 (the default) makes no draw: the same example as a share too small to fire, one draw fewer.
        var unused = RandomGenerator(seed: 3), tiny = unused
        let offResult = Augmentation(kinds: [.colored], noiseClips: [], speech: [], sampleRate: 16000,
                                     conditions: .none)
            .remix(clean: clean, rng: &unused)
        let tinyResult = Augmentation(kinds: [.colored], noiseClips: [], speech: [], sampleRate: 16000,
                                      conditions: conditions { $0.leadingSilenceShare = 1e-9 })
            .remix(clean: clean, rng: &tiny)
        XCTAssertEqual(offResult.noisy, tinyResult.noisy)
        _ = unused.uniform()
        XCTAssertEqual(unused.next(), tiny.next())
        XCTAssertEqual(AugmentationOptions().leadingSilenceShare, 0)
    }

    /// A pause zeroes one stretch of input and target alike, 0.2–1.5 s long unless it runs off the end (trailing
    /// silence), starting anywhere, and leaves every other sample as remixed without it.
    func testPauseSilenceZeroesOneStretchOfInputAndTarget() {
        let clean = TestSignals.speechLike(seconds: 3)
        var starts: [Int] = [], inside = 0, trailing = 0
        for seed in 0..<24 {
            let ((noisy, target), (plainNoisy, plainTarget)) = remixedWithAndWithout(
                conditions { $0.pauseSilenceShare = 1 }, clean: clean, seed: UInt64(seed))
            let changed = noisy.indices.filter { noisy[$0] != plainNoisy[$0] || target[$0] != plainTarget[$0] }
            guard let first = changed.first, let last = changed.last else {
                return XCTFail("seed \(seed): no pause")
            }
            XCTAssertTrue(noisy[first...last].allSatisfy { $0 == 0 }, "one stretch of zeros")
            XCTAssertTrue(target[first...last].allSatisfy { $0 == 0 })
            let length = last - first + 1
            XCTAssertLessThanOrEqual(length, 24000, "at most 1.5 s")
            if last == noisy.count - 1 {
                trailing += 1
            } else {
                inside += 1
                XCTAssertGreaterThanOrEqual(length, 3200, "at least 0.2 s inside the example")
            }
            starts.append(first)
        }
        XCTAssertGreaterThan(inside, 4, "pauses between sounds")
        XCTAssertGreaterThan(trailing, 2, "pauses that run off the end")
        XCTAssertLessThan(starts.min() ?? .max, 16000, "starts early: \(starts)")
        XCTAssertGreaterThan(starts.max() ?? 0, 32000, "and late")
        XCTAssertEqual(AugmentationOptions().pauseSilenceShare, 0, "off by default")
        XCTAssertFalse(conditions { $0.pauseSilenceShare = 1.5 }.isValid)
    }

    // MARK: - Noises that change in time

    /// Frame levels in dB over 50 ms frames.
    private func frameLevels(_ x: [Float]) -> [Float] {
        stride(from: 0, to: x.count - 800, by: 800).map { start in
            10 * log10(Mixing.meanSquare(Array(x[start..<start + 800])) + 1e-12)
        }
    }

    func testTransientNoiseIsImpactsOverAQuietFloor() {
        var rng = RandomGenerator(seed: 12)
        let augmentation = Augmentation(kinds: [.transient], noiseClips: [], speech: [], sampleRate: 16000)
        let levels = frameLevels(augmentation.makeNoise(.transient, count: 160000, rng: &rng)).sorted()
        let median = levels[levels.count / 2], loudest = levels[levels.count - 1]
        XCTAssertGreaterThan(loudest - median, 20, "impacts stand far above the floor")
    }

    func testModulatedNoiseIsColoredNoiseUnderASlowlyWanderingLevel() {
        var rng = RandomGenerator(seed: 13)
        let augmentation = Augmentation(kinds: [.modulated], noiseClips: [], speech: [], sampleRate: 16000)
        for _ in 0..<5 {
            // The modulated noise starts from the coloured noise the same generator state draws, so their ratio is
            // the level curve itself.
            var same = rng
            let colored = augmentation.makeNoise(.colored, count: 160000, rng: &same)
            let modulated = augmentation.makeNoise(.modulated, count: 160000, rng: &rng)
            let levelsDB = stride(from: 0, to: colored.count, by: 160).compactMap { i -> Float? in
                abs(colored[i]) > 1e-6 ? 20 * log10(abs(modulated[i] / colored[i])) : nil
            }
            // 10 s hold at least one period (0.1–1 Hz), so the curve spans twice its 3–10 dB depth.
            let span = (levelsDB.max() ?? 0) - (levelsDB.min() ?? 0)
            XCTAssertGreaterThanOrEqual(span, 5.9)
            XCTAssertLessThanOrEqual(span, 20.1)
            // Slowly: at most 2π·10 dB·1 Hz = 63 dB/s, 0.63 dB per 10 ms.
            for (a, b) in zip(levelsDB, levelsDB.dropFirst()) { XCTAssertLessThan(abs(b - a), 0.7) }
        }
    }
}
