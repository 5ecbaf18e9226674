import Foundation

/// On-the-fly remixing of training pairs, so that a small corpus stands for many recordings.
///
/// Each call draws a fresh noisy version of a clean crop: a noise of a random kind (recorded clips,
/// babble of other utterances, coloured noise, mains hum, band-limited noise) at a random SNR, with
/// the speech itself varied (gain, recording bandwidth). The clean target gets the same speech
/// variation, so the network learns to remove noise, never to restore what a recording lacks.
public struct Augmentation: Sendable {
    public enum Kind: String, CaseIterable, Sendable {
        case recorded, babble, colored, hum, band, gain, lowpass
        /// The kinds that add noise (the rest change the speech).
        static let noises: [Kind] = [.recorded, .babble, .colored, .hum, .band]
    }

    public var kinds: Set<Kind>
    /// Uniform SNR range in dB.
    public var snrRange: ClosedRange<Float>
    /// Recorded noise clips at the model rate (from `--noise DIR`, plus noise left over in stored pairs).
    public var noiseClips: [[Float]]
    /// Clean utterances babble is drawn from.
    public var speech: [[Float]]
    public let sampleRate: Int

    public init(kinds: Set<Kind> = Set(Kind.allCases), snrRange: ClosedRange<Float> = -5...20, noiseClips: [[Float]],
                speech: [[Float]], sampleRate: Int) {
        self.kinds = kinds
        self.snrRange = snrRange
        self.noiseClips = noiseClips.filter { !$0.isEmpty }
        self.speech = speech.filter { !$0.isEmpty }
        self.sampleRate = sampleRate
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
    public var canMakeNoise: Bool { !availableNoiseKinds.isEmpty }

    private var availableNoiseKinds: [Kind] {
        Kind.noises.filter { kind in
            guard kinds.contains(kind) else { return false }
            switch kind {
            case .recorded: return !noiseClips.isEmpty
            case .babble: return speech.count >= 3
            default: return true
            }
        }
    }

    /// A fresh (noisy, clean) pair built from `clean`. The SNR is measured against the varied speech.
    public func remix(clean original: [Float], rng: inout RandomGenerator) -> (noisy: [Float], clean: [Float]) {
        var clean = original
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
        let options = availableNoiseKinds
        guard !options.isEmpty, !clean.isEmpty else { return (clean, clean) }
        let kind = options[Int(rng.next() % UInt64(options.count))]
        let noise = makeNoise(kind, count: clean.count, rng: &rng)
        let snr = rng.uniform(snrRange.lowerBound, snrRange.upperBound)
        let scaled = Mixing.scaleNoise(noise, toSNR: snr, against: clean)
        var noisy = clean
        for i in noisy.indices { noisy[i] += scaled[i] }
        return (noisy, clean)
    }

    /// `count` samples of noise of `kind`, unscaled.
    public func makeNoise(_ kind: Kind, count: Int, rng: inout RandomGenerator) -> [Float] {
        switch kind {
        case .recorded:
            return loopedCrop(noiseClips[Int(rng.next() % UInt64(noiseClips.count))], count: count, rng: &rng)
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
            let centre = Float(exp(Double(rng.uniform(log(100), log(Float(0.8 * nyquist))))))
            var noise = (0..<count).map { _ in rng.normal() }
            Biquad.bandPass(centre: centre, q: rng.uniform(0.5, 8), sampleRate: sampleRate).apply(&noise, passes: 2)
            return noise
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

public enum AugmentationError: Error, CustomStringConvertible, Equatable {
    case unknownKind(String, known: String)
    public var description: String {
        switch self {
        case let .unknownKind(name, known): return "unknown augmentation '\(name)' (known: \(known), all, none)"
        }
    }
}

/// A second-order IIR section (RBJ audio-EQ cookbook coefficients), direct form I.
struct Biquad {
    var b0, b1, b2, a1, a2: Float

    static func lowPass(cutoff: Float, q: Float, sampleRate: Int) -> Biquad {
        let w = 2 * Float.pi * cutoff / Float(sampleRate), alpha = sin(w) / (2 * q), c = cos(w)
        let a0 = 1 + alpha
        return Biquad(b0: (1 - c) / 2 / a0, b1: (1 - c) / a0, b2: (1 - c) / 2 / a0, a1: -2 * c / a0, a2: (1 - alpha) / a0)
    }

    /// Constant 0 dB peak gain band-pass.
    static func bandPass(centre: Float, q: Float, sampleRate: Int) -> Biquad {
        let w = 2 * Float.pi * centre / Float(sampleRate), alpha = sin(w) / (2 * q), c = cos(w)
        let a0 = 1 + alpha
        return Biquad(b0: alpha / a0, b1: 0, b2: -alpha / a0, a1: -2 * c / a0, a2: (1 - alpha) / a0)
    }

    func apply(_ x: inout [Float], passes: Int = 1) {
        for _ in 0..<passes {
            var x1: Float = 0, x2: Float = 0, y1: Float = 0, y2: Float = 0
            for i in x.indices {
                let y = b0 * x[i] + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2
                x2 = x1; x1 = x[i]; y2 = y1; y1 = y
                x[i] = y
            }
        }
    }
}
