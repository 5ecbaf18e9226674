import Foundation

enum RoomImpulseResponseError: Error, CustomStringConvertible, Equatable {
    case noResponses(String)
    case silent(String)

    var description: String {
        switch self {
        case let .noResponses(path): return "\(path): holds no WAV file to use as a room impulse response"
        case let .silent(path): return "\(path): the room impulse response is silent"
        }
    }
}

/// A room impulse response at the model's rate, starting just before its direct path.
public struct RoomImpulseResponse: Sendable {
    public let samples: [Float]
    public let sampleRate: Int
    /// Where the direct sound arrives in `samples`.
    let directPathIndex: Int

    /// Reflections within this time after the direct sound count as early: the ear fuses them with the direct
    /// sound (C50, the speech clarity index, draws its line here), so they are part of the training target.
    static let earlyDuration = 0.05
    /// Longest response kept, seconds: longer tails are below −60 dB in any room we train for.
    static let maximumDuration = 1.5
    /// Kept before the direct path: the rising edge of a band-limited pulse and the error of finding its onset.
    static let leadDuration = 0.001
    /// The direct path is the first peak within this many dB of the largest one (a later reflection or lobe of a
    /// measured response may be larger than the direct sound itself).
    private static let directPathWindowDB: Float = 6

    /// `samples` from `leadDuration` before their direct path, at most `maximumDuration` after it.
    public init(measured samples: [Float], sampleRate: Int) {
        let peak = samples.map(abs).max() ?? 0
        let threshold = peak * Float(pow(10, -Double(Self.directPathWindowDB) / 20))
        var direct = samples.firstIndex { abs($0) >= threshold && peak > 0 } ?? 0
        // The sample where that first arrival peaks, not its rising edge.
        while direct + 1 < samples.count && abs(samples[direct + 1]) > abs(samples[direct]) { direct += 1 }
        let start = max(0, direct - Int(Self.leadDuration * Double(sampleRate)))
        let end = min(samples.count, direct + Int(Self.maximumDuration * Double(sampleRate)))
        self.init(samples: Array(samples[start..<end]), sampleRate: sampleRate, directPathIndex: direct - start)
    }

    private init(samples: [Float], sampleRate: Int, directPathIndex: Int) {
        self.samples = samples
        self.sampleRate = sampleRate
        self.directPathIndex = directPathIndex
    }

    /// Exponentially decaying Gaussian noise after a unit direct path: the statistical model of a diffuse late
    /// field (Polack). Its energy falls 60 dB in `rt60` seconds; the tail's energy is `directToReverberantDB` below
    /// the direct sound's, and it starts after `firstReflection` seconds (the shortest extra path, about 1–3 m).
    static func synthetic(rt60: Double, directToReverberantDB: Double, firstReflection: Double = 0.002,
                                 sampleRate: Int, rng: inout RandomGenerator) -> RoomImpulseResponse {
        let count = Int(min(rt60, maximumDuration) * Double(sampleRate))
        let gap = min(max(1, Int(firstReflection * Double(sampleRate))), max(1, count - 1))
        // Amplitude 10^(−3t/RT60): energy at t = RT60 is 60 dB below its start.
        let decayPerSample = pow(10, -3 / (rt60 * Double(sampleRate)))
        var tail = [Float](repeating: 0, count: max(count, gap + 1))
        var envelope = 1.0
        for i in gap..<tail.count {
            tail[i] = Float(envelope) * rng.normal()
            envelope *= decayPerSample
        }
        let tailEnergy = tail.reduce(0) { $0 + Double($1) * Double($1) }
        let scale = tailEnergy > 0 ? Float((pow(10, -directToReverberantDB / 10) / tailEnergy).squareRoot()) : 0
        for i in tail.indices { tail[i] *= scale }
        tail[0] = 1
        return RoomImpulseResponse(samples: tail, sampleRate: sampleRate, directPathIndex: 0)
    }

    /// The response up to `earlyDuration` after the direct path, then nothing.
    var early: [Float] {
        Array(samples.prefix(directPathIndex + Int(Self.earlyDuration * Double(sampleRate)) + 1))
    }

    /// Broadband reverberation time in seconds from the Schroeder backward integral: a straight line fitted to
    /// the decay curve between −5 and −25 dB (T20), extended to 60 dB. nil if the decay never reaches −25 dB.
    var decayTime: Double? {
        var remaining = samples.reduce(0.0) { $0 + Double($1) * Double($1) }
        let total = remaining
        guard total > 0 else { return nil }
        var times: [Double] = [], levels: [Double] = []
        for (i, x) in samples.enumerated() {
            let level = 10 * log10(max(remaining / total, 1e-30))
            if level <= -5 && level >= -25 {
                times.append(Double(i) / Double(sampleRate))
                levels.append(level)
            }
            remaining -= Double(x) * Double(x)
        }
        guard times.count >= 2, let lastLevel = levels.last, lastLevel < -24 else { return nil }
        let meanT = times.reduce(0, +) / Double(times.count), meanL = levels.reduce(0, +) / Double(levels.count)
        var covariance = 0.0, variance = 0.0
        for (t, l) in zip(times, levels) {
            covariance += (t - meanT) * (l - meanL)
            variance += (t - meanT) * (t - meanT)
        }
        let slope = covariance / variance
        return slope < 0 ? -60 / slope : nil
    }

    /// The responses under `folder` at `sampleRate`. When the folder holds some files recorded at that rate, only
    /// those are used (a folder like `../shared/data/rir` keeps each room at 16 and 48 kHz); otherwise all are
    /// resampled to it.
    public static func load(from folder: URL, sampleRate: Int) throws -> [RoomImpulseResponse] {
        let names = try WAVFiles.relativePaths(under: folder)
        guard !names.isEmpty else { throw RoomImpulseResponseError.noResponses(folder.path) }
        let files = try names.map { name in
            (name, try WAVReader.read(url: folder.appendingPathComponent(name)).0)
        }
        let atRate = files.filter { $0.1.sampleRate == sampleRate }
        return try (atRate.isEmpty ? files : atRate).map { name, buffer in
            let samples = Resampler.resample(buffer.mixedDown, from: buffer.sampleRate, to: sampleRate)
            guard samples.contains(where: { $0 != 0 }) else {
                throw RoomImpulseResponseError.silent(folder.appendingPathComponent(name).path)
            }
            return RoomImpulseResponse(measured: samples, sampleRate: sampleRate)
        }
    }
}
