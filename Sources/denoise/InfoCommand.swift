import DenoiseKit
import Foundation

/// `denoise info FILE`: what a WAV file holds (format, rate, channels, duration) and how loud it is.
struct InfoCommand: Command {
    let name = "info"
    let abstract = "Show the format, duration and levels of a WAV file."
    let usage = ["info FILE.wav", "info MODEL.safetensors"]
    let options: [Option] = []
    let positionals = [
        Positional("file", value: "FILE", help: "A WAV file, or a model file (.safetensors; not supported yet)."),
    ]
    let discussion = """
        Levels are in dB relative to full scale (dBFS): peak is the largest absolute sample, RMS the root \
        mean square over the whole file (a full-scale sine reads -3.01 dBFS RMS). Files with several channels \
        get one value per channel.
        """

    /// Frames read at a time: 64 Ki frames keeps memory flat whatever the file's length.
    private let chunkFrames = 65_536

    func run(_ arguments: ParsedArguments) throws -> Int32 {
        guard let path = arguments.positional("file") else { throw UsageError("missing argument <FILE>") }
        let url = fileURL(path)
        if url.pathExtension.lowercased() == "safetensors" {
            throw CommandError("\(path): model files are not supported yet")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw CommandError("\(path): no such file")
        }
        if isDirectory.boolValue { throw CommandError("\(path): is a directory, not a WAV file") }

        let reader = try WAVReader(url: url)
        let levels = try measureLevels(reader)
        let format = reader.format
        let seconds = Double(reader.frameCount) / Double(format.sampleRate)
        let size = (try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? Int

        var rows: [(String, String)] = [("file", path)]
        if let size { rows.append(("size", Format.bytes(size))) }
        rows += [
            ("format", Self.describe(format.sampleFormat)),
            ("sample rate", "\(format.sampleRate) Hz"),
            ("channels", "\(format.channelCount)"),
            ("duration", "\(Format.timestamp(seconds: seconds)) (\(String(format: "%.3f", seconds)) s)"),
            ("frames", "\(reader.frameCount)"),
            ("peak", Self.perChannel(levels.map(\.peakDecibels))),
            ("rms", Self.perChannel(levels.map(\.rmsDecibels))),
        ]
        let width = rows.map(\.0.count).max() ?? 0
        for (label, value) in rows {
            print((label + ":").padding(toLength: width + 2, withPad: " ", startingAt: 0) + value)
        }
        return ExitStatus.success
    }

    /// Peak and sum of squares of each channel, accumulated chunk by chunk.
    private func measureLevels(_ reader: WAVReader) throws -> [Level] {
        var levels = [Level](repeating: Level(), count: reader.format.channelCount)
        while let chunk = try reader.read(maxFrames: chunkFrames) {
            for (channel, samples) in chunk.channels.enumerated() where channel < levels.count {
                levels[channel].add(samples)
            }
        }
        return levels
    }

    /// Named from the sample layout rather than the reader's description so the wording stays the CLI's.
    static func describe(_ format: WAVSampleFormat) -> String {
        (format.isFloat ? "IEEE float " : "PCM ") + "\(format.bitsPerSample)-bit"
    }

    /// `-6.02 dBFS` for one channel, `ch1 -6.02 dBFS, ch2 -12.04 dBFS` for several.
    private static func perChannel(_ values: [Double]) -> String {
        if values.count == 1 { return Format.decibels(values[0]) + " dBFS" }
        return values.enumerated().map { "ch\($0.offset + 1) \(Format.decibels($0.element)) dBFS" }
            .joined(separator: ", ")
    }
}

/// Running level of one channel: peak = max |x|, RMS = sqrt(Σx² / n), both in dBFS (20·log10, full scale 1).
private struct Level {
    var peak: Float = 0
    /// Sums in Double: an hour at 48 kHz is 1.7e8 squares, beyond Float's 24-bit mantissa.
    var sumOfSquares: Double = 0
    var count = 0

    mutating func add(_ samples: [Float]) {
        var peak = self.peak
        var sum = 0.0
        samples.withUnsafeBufferPointer { buffer in
            for sample in buffer {
                peak = max(peak, abs(sample))
                sum += Double(sample) * Double(sample)
            }
        }
        self.peak = peak
        sumOfSquares += sum
        count += samples.count
    }

    var peakDecibels: Double { 20 * log10(Double(peak)) }
    var rmsDecibels: Double { count == 0 ? -.infinity : 10 * log10(sumOfSquares / Double(count)) }
}
