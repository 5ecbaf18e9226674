import Foundation

/// On-the-fly remixing of training pairs, so that a small corpus stands for many recordings.
///
/// Each call draws a fresh noisy version of a clean crop: a noise of a random kind (recorded clips,
/// babble of other utterances, coloured noise, mains hum, band-limited noise, slowly varying noise, impacts) at a
/// random SNR, with the speech itself varied (gain, recording bandwidth). The clean target gets the same speech
/// variation, so the network learns to remove noise, never to restore what a recording lacks.
///
/// `conditions` then adds, each with its own share: a room (`Reverberation`: the target is the early-reverberant
/// speech), more low SNRs, a telephone channel for the whole mixture (`Narrowband`, the target band-limited
/// likewise), a level change of the whole example, clipping of the input only, and digital silence at the start or
/// after sound.
public struct Augmentation: Sendable {
    public enum Kind: String, CaseIterable, Sendable {
        case recorded, babble, colored, hum, band, modulated, transient, gain, lowpass
        /// The kinds that add noise (the rest change the speech).
        static let noises: [Kind] = [.recorded, .babble, .colored, .hum, .band, .modulated, .transient]
    }

    public var kinds: Set<Kind>
    /// Uniform SNR range in dB.
    public var snrRange: ClosedRange<Float>
    /// Recorded noise at the model rate (from `--noise DIR`, plus noise left over in stored pairs).
    public var recordedNoise: NoisePool
    /// Clean utterances babble is drawn from.
    public var speech: [[Float]]
    public let sampleRate: Int
    /// Shares of reverberation, low SNR, narrowband, level changes, clipping and digital silence.
    public var conditions: AugmentationOptions
    /// Measured room impulse responses (from `--rir DIR`); synthetic ones are used when there are none.
    public var responses: [RoomImpulseResponse]

    /// `noiseClips` are drawn uniformly among themselves, as one source and category; `recordedNoise` adds clips
    /// drawn by source and category, or uniformly over all with `noiseDraw` `.clips` (see `NoisePool`).
    public init(kinds: Set<Kind> = Set(Kind.allCases), snrRange: ClosedRange<Float> = -5...20, noiseClips: [[Float]],
                recordedNoise: [NoiseClip] = [], noiseDraw: NoisePool.Draw = .grouped, speech: [[Float]],
                sampleRate: Int, conditions: AugmentationOptions = AugmentationOptions(),
                responses: [RoomImpulseResponse] = []) {
        self.kinds = kinds
        self.snrRange = snrRange
        let uniform = noiseClips.map { NoiseClip(name: "", samples: $0, category: "") }
        self.recordedNoise = NoisePool(uniform + recordedNoise, draw: noiseDraw)
        self.speech = speech.filter { !$0.isEmpty }
        self.sampleRate = sampleRate
        self.conditions = conditions
        self.responses = responses.filter { !$0.samples.isEmpty }
    }

    /// Parses "recorded,babble,…", "all" or "none".
    public static func parseKinds(_ list: String) throws -> Set<Kind> {
        let trimmed = list.trimmingCharacters(in: .whitespaces).lowercased()
        if trimmed == "all" { return Set(Kind.allCases) }
        if trimmed == "none" || trimmed.isEmpty { return [] }
        var kinds = Set<Kind>()
        for name in trimmed.split(separator: ",") {
            guard let kind = Kind(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                let known = Kind.allCases.map(\.rawValue).joined(separator: ", ")
                throw AugmentationError.unknownKind(String(name), known: known)
            }
            kinds.insert(kind)
        }
        return kinds
    }

    /// Whether any noise can be generated with these kinds and this material.
    var canMakeNoise: Bool { !availableNoiseKinds.isEmpty }

    private var availableNoiseKinds: [Kind] {
        Kind.noises.filter { kind in
            guard kinds.contains(kind) else { return false }
            switch kind {
            case .recorded: return !recordedNoise.isEmpty
            case .babble: return speech.count >= 3
            default: return true
            }
        }
    }

    /// A fresh (noisy, clean) pair built from `clean`. The SNR is measured against the varied (and, in a room,
    /// reverberant) speech.
    public func remix(clean original: [Float], rng: inout RandomGenerator) -> (noisy: [Float], clean: [Float]) {
        var clean = original
        // Drawn only when asked for, so that runs without it draw exactly as before it existed.
        if conditions.speedShare > 0 && rng.uniform() < conditions.speedShare {
            let range = conditions.speedRange
            let percent = Int((rng.uniform(range.lowerBound, range.upperBound) * 100).rounded())
            clean = Augmentation.changeSpeed(clean, percent: percent, sampleRate: sampleRate)
        }
        if kinds.contains(.lowpass) && rng.uniform() < 0.5 {
            let cutoff = rng.uniform(4000, 8000)
            if cutoff < 0.45 * Float(sampleRate) {
                Biquad.lowPass(cutoff: cutoff, q: 0.707, sampleRate: sampleRate).apply(&clean, passes: 2)
            }
        }
        if kinds.contains(.gain) {
            let gain = Float(pow(10, Double(rng.uniform(-20, 6)) / 20))
            for i in clean.indices { clean[i] *= gain }
        }
        guard !clean.isEmpty else { return (clean, clean) }
        // What the microphone picks up of the speech; the target stays `clean`.
        var speech = clean
        if rng.uniform() < conditions.reverbShare {
            (speech, clean) = Reverberation.apply(drawResponse(rng: &rng), to: clean)
        }
        var noisy = speech
        let options = availableNoiseKinds
        if !options.isEmpty {
            let kind = options[Int(rng.next() % UInt64(options.count))]
            var noise = makeNoise(kind, count: clean.count, rng: &rng)
            // Drawn only when asked for, so that runs without it draw exactly as before it existed.
            if conditions.secondNoiseShare > 0 && rng.uniform() < conditions.secondNoiseShare {
                addQuieterNoises(to: &noise, kinds: options, rng: &rng)
            }
            if conditions.noiseEQShare > 0 && rng.uniform() < conditions.noiseEQShare {
                equalise(&noise, rng: &rng)
            }
            let range = rng.uniform() < conditions.lowSNRShare ? conditions.lowSNRRange : snrRange
            let snr = rng.uniform(range.lowerBound, range.upperBound)
            let scaled = Mixing.scaleNoise(noise, toSNR: snr, against: speech)
            for i in noisy.indices { noisy[i] += scaled[i] }
        }
        if rng.uniform() < conditions.narrowbandShare {
            let coded = rng.uniform() < conditions.muLawShare
            noisy = Narrowband.telephone(noisy, sampleRate: sampleRate, muLaw: coded)
            clean = Narrowband.telephone(clean, sampleRate: sampleRate)
        }
        if rng.uniform() < conditions.levelShare {
            let gain = Float(pow(10, Double(rng.uniform(-conditions.levelRangeDB, conditions.levelRangeDB)) / 20))
            for i in noisy.indices {
                noisy[i] *= gain
                clean[i] *= gain
            }
        }
        if rng.uniform() < conditions.clippingShare {
            let peak = noisy.reduce(0) { max($0, abs($1)) }
            let range = conditions.clippingLevelRange
            let limit = peak * rng.uniform(range.lowerBound, range.upperBound)
            for i in noisy.indices { noisy[i] = min(max(noisy[i], -limit), limit) }
        }
        // Digital silence, input and target alike, `seconds` long from `start` (cut at the end).
        func silence(from start: Int, seconds: Float) {
            let samples = start..<min(noisy.count, clean.count, start + Int(seconds * Float(sampleRate)))
            noisy.replaceSubrange(samples, with: repeatElement(0, count: samples.count))
            clean.replaceSubrange(samples, with: repeatElement(0, count: samples.count))
        }
        // Each drawn only when asked for, so that runs without it draw the same examples as before it existed.
        if conditions.leadingSilenceShare > 0 && rng.uniform() < conditions.leadingSilenceShare {
            let range = conditions.leadingSilenceRange
            silence(from: 0, seconds: rng.uniform(range.lowerBound, range.upperBound))
        }
        if conditions.pauseSilenceShare > 0 && rng.uniform() < conditions.pauseSilenceShare {
            let range = conditions.pauseSilenceRange
            let seconds = rng.uniform(range.lowerBound, range.upperBound)
            silence(from: Int(rng.next() % UInt64(min(noisy.count, clean.count))), seconds: seconds)
        }
        return (noisy, clean)
    }

    /// `x` played at `percent`% of its speed: read as if sampled at that share of `sampleRate` and resampled to
    /// `sampleRate`, so its length is divided by the factor and every frequency multiplied by it. Whole percents
    /// keep the reduced rate ratio at 100/percent or simpler for rates that are multiples of 100 (at most 100
    /// phases), so the resampler's table stays short.
    static func changeSpeed(_ x: [Float], percent: Int, sampleRate: Int) -> [Float] {
        Resampler.resample(x, from: sampleRate * percent / 100, to: sampleRate)
    }

    /// Adds to `noise` the further noises of a `AugmentationOptions.noiseSources` bed, each of one of `kinds`,
    /// drawn as the first one was, with its power `AugmentationOptions.secondNoiseRangeDB` below the first's.
    private func addQuieterNoises(to noise: inout [Float], kinds: [Kind], rng: inout RandomGenerator) {
        let sources = conditions.noiseSources
        // Drawn only when there is a choice, so that two-source runs draw exactly as before it existed.
        let count = sources.count > 1
            ? sources.lowerBound + Int(rng.next() % UInt64(sources.count)) : sources.lowerBound
        let firstPower = Mixing.meanSquare(noise), range = conditions.secondNoiseRangeDB
        for _ in 1..<count {
            let kind = kinds[Int(rng.next() % UInt64(kinds.count))]
            let further = makeNoise(kind, count: noise.count, rng: &rng)
            let below = rng.uniform(range.lowerBound, range.upperBound)
            let furtherPower = Mixing.meanSquare(further)
            guard furtherPower > 0 else { continue }
            let gain = (firstPower / furtherPower).squareRoot() * Float(pow(10, Double(-below) / 20))
            for i in noise.indices { noise[i] += gain * further[i] }
        }
    }

    /// Passes `noise` through `AugmentationOptions.noiseEQFilters` peaking filters of random centre, gain and width.
    private func equalise(_ noise: inout [Float], rng: inout RandomGenerator) {
        let filters = conditions.noiseEQFilters, gains = conditions.noiseEQRangeDB
        let count = filters.lowerBound + Int(rng.next() % UInt64(filters.count))
        let lowest: Float = 100, highest = 0.45 * Float(sampleRate)
        for _ in 0..<count {
            let centre = rng.logUniform(lowest, highest)
            Biquad.peaking(centre: centre, gainDB: rng.uniform(gains.lowerBound, gains.upperBound),
                           q: rng.uniform(0.5, 2), sampleRate: sampleRate).apply(&noise)
        }
    }

    /// A measured response (when there are any) or a synthetic one, in the shares of `conditions`.
    private func drawResponse(rng: inout RandomGenerator) -> RoomImpulseResponse {
        if !responses.isEmpty && rng.uniform() < conditions.measuredResponseShare {
            return responses[Int(rng.next() % UInt64(responses.count))]
        }
        let rt60 = conditions.rt60Range, ratio = conditions.directToReverberantRange
        return RoomImpulseResponse.synthetic(
            rt60: Double(rng.uniform(Float(rt60.lowerBound), Float(rt60.upperBound))),
            directToReverberantDB: Double(rng.uniform(Float(ratio.lowerBound), Float(ratio.upperBound))),
            sampleRate: sampleRate, rng: &rng)
    }

    /// `count` samples of noise of `kind`, unscaled.
    func makeNoise(_ kind: Kind, count: Int, rng: inout RandomGenerator) -> [Float] {
        switch kind {
        case .recorded:
            return loopedCrop(recordedNoise.draw(rng: &rng), count: count, rng: &rng)
        case .babble:
            var sum = [Float](repeating: 0, count: count)
            let talkers = 3 + Int(rng.next() % 6)
            for _ in 0..<talkers {
                let voice = loopedCrop(speech[Int(rng.next() % UInt64(speech.count))], count: count, rng: &rng)
                let level = 1 / max(Mixing.meanSquare(voice).squareRoot(), 1e-6)
                for i in 0..<count { sum[i] += voice[i] * level }
            }
            return sum
        case .colored:
            // A one-pole low-pass on white noise: pole 0 is white, near 1 approaches brown (−6 dB/octave).
            let pole = rng.uniform(0, 0.995)
            var state: Float = 0
            return (0..<count).map { _ in
                state = pole * state + rng.normal()
                return state
            }
        case .hum:
            let mains: Float = (rng.uniform() < 0.5 ? 50 : 60) * rng.uniform(0.99, 1.01)
            let harmonics = 3 + Int(rng.next() % 12)
            let amplitudes = (1...harmonics).map { h in Float(pow(Double(h), -Double(rng.uniform(0.3, 1.5)))) }
            let phases = (1...harmonics).map { _ in rng.uniform(0, 2 * .pi) }
            let step = 2 * Float.pi * mains / Float(sampleRate)
            var out = [Float](repeating: 0, count: count)
            for (h, (a, phase)) in zip(amplitudes, phases).enumerated() {
                let w = step * Float(h + 1)
                guard w < .pi else { break }
                for i in 0..<count { out[i] += a * sin(w * Float(i) + phase) }
            }
            // A little broadband hiss, as real hum pickups have.
            for i in 0..<count { out[i] += 0.01 * rng.normal() }
            return out
        case .band:
            let nyquist = Float(sampleRate) / 2
            let centre = rng.logUniform(100, 0.8 * nyquist)
            var noise = (0..<count).map { _ in rng.normal() }
            Biquad.bandPass(centre: centre, q: rng.uniform(0.5, 8), sampleRate: sampleRate).apply(&noise, passes: 2)
            return noise
        case .modulated:
            // Noise that swells and fades over seconds (passing traffic, wind, a fan changing speed): coloured
            // noise under a level that wanders by ±3…10 dB at 0.1–1 Hz.
            var noise = makeNoise(.colored, count: count, rng: &rng)
            let depthDB = rng.uniform(3, 10), rate = rng.uniform(0.1, 1), phase = rng.uniform(0, 2 * .pi)
            let step = 2 * Float.pi * rate / Float(sampleRate)
            for i in noise.indices {
                noise[i] *= Float(pow(10, Double(depthDB * sin(step * Float(i) + phase)) / 20))
            }
            return noise
        case .transient:
            // Impacts (steps, doors, knocks, dropped things): band-limited noise bursts that decay in 5–80 ms,
            // 0.5–3 a second at random times and levels, over a faint floor so the gaps are not digital silence.
            var out = (0..<count).map { _ in 0.001 * rng.normal() }
            let seconds = Float(count) / Float(sampleRate)
            let impacts = max(1, Int((seconds * rng.uniform(0.5, 3)).rounded()))
            for _ in 0..<impacts {
                let start = Int(rng.next() % UInt64(count))
                let decay = rng.uniform(0.005, 0.08) * Float(sampleRate)
                let length = min(count - start, Int(5 * decay))
                guard length > 1 else { continue }
                var burst = (0..<length).map { _ in rng.normal() }
                let centre = rng.logUniform(150, 0.4 * Float(sampleRate))
                Biquad.bandPass(centre: centre, q: rng.uniform(0.5, 3), sampleRate: sampleRate).apply(&burst)
                let level = Float(pow(10, Double(rng.uniform(-20, 0)) / 20))
                for i in 0..<length { out[start + i] += level * exp(-Float(i) / decay) * burst[i] }
            }
            return out
        case .gain, .lowpass:
            return [Float](repeating: 0, count: count)
        }
    }

    private func loopedCrop(_ clip: [Float], count: Int, rng: inout RandomGenerator) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        var position = Int(rng.next() % UInt64(clip.count))
        for i in 0..<count {
            out[i] = clip[position]
            position += 1
            if position == clip.count { position = 0 }
        }
        return out
    }
}

enum AugmentationError: Error, CustomStringConvertible, Equatable {
    case unknownKind(String, known: String)
    var description: String {
        switch self {
        case let .unknownKind(name, known): return "unknown augmentation '\(name)' (known: \(known), all, none)"
        }
    }
}
