import DenoiseKit
import Foundation

/// `denoise info FILE`: what a WAV file holds (format, rate, channels, duration) and how loud it is.
struct InfoCommand: Command {
    let name = "info"
    let abstract = "Show the format, duration and levels of a WAV file, or what a model file holds."
    let usage = ["info [--json] FILE.wav", "info [--json] [--history] MODEL.safetensors"]
    let options: [Option] = [
        .flag("json", help: "Print one JSON object (snake_case keys) instead of the table."),
        .flag("history", help: "List every blend in a model's history. Without it, the table shows the last "
              + "two levels of blends and counts the older ones (--json always holds them all)."),
    ]
    let positionals = [
        Positional("file", value: "FILE", help: "A WAV file, or a model file (.safetensors)."),
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
        let json = arguments.flag("json")
        if url.pathExtension.lowercased() == "safetensors" {
            return try describeModel(url, path: path, json: json, history: arguments.flag("history"))
        }
        if arguments.flag("history") { throw UsageError("--history is for model files (.safetensors)") }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw CommandError("\(path): no such file")
        }
        if isDirectory.boolValue { throw CommandError("\(path): is a directory, not a WAV file") }
        // Opening a FIFO would wait for a writer forever.
        // Of the file a link points to (attributesOfItem describes a symbolic link itself).
        let attributes = try? FileManager.default.attributesOfItem(atPath: url.resolvingSymlinksInPath().path)
        if let type = attributes?[.type] as? FileAttributeType, type != .typeRegular {
            throw CommandError("\(path): is a pipe or device, not a WAV file")
        }

        let reader = try WAVReader(url: url)
        let levels = try measureLevels(reader)
        let format = reader.format
        let seconds = Double(reader.frameCount) / Double(format.sampleRate)
        let size = attributes?[.size] as? Int

        if json {
            let finite = { (value: Double) -> Any in value.isFinite ? value : NSNull() }
            var object: [String: Any] = [
                "file": path, "format": Self.describe(format.sampleFormat), "sample_rate": format.sampleRate,
                "channels": format.channelCount, "frames": reader.frameCount, "duration_s": seconds,
                "peak_dbfs": levels.map { finite($0.peakDecibels) }, "rms_dbfs": levels.map { finite($0.rmsDecibels) },
            ]
            if let size { object["size_bytes"] = size }
            try Self.printJSON(object)
            return ExitStatus.success
        }
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

    /// How a model file stores its tensors: `float16`, `float32`, or both (a float16 file keeps as float32 any
    /// tensor past float16's range).
    private static func storage(_ file: SafeTensors) -> (text: String, json: [String]) {
        let wide = file.tensors.values.filter { $0.precision == .float32 }.count
        let narrow = file.tensors.count - wide
        let json = (wide > 0 ? [SafeTensors.Precision.float32.rawValue] : [])
            + (narrow > 0 ? [SafeTensors.Precision.float16.rawValue] : [])
        if narrow == 0 { return ("float32", json) }
        if wide == 0 { return ("float16", json) }
        return ("float16, with \(wide) of \(file.tensors.count) tensors in float32 (past float16's range)", json)
    }

    /// Configuration, size, signal settings and training summary of a model file.
    private func describeModel(_ url: URL, path: String, json: Bool, history: Bool) throws -> Int32 {
        let file = try SafeTensors.read(url: url)
        let model = try DenoiseModel(safeTensors: file, path: url.path)
        let net = model.net.config
        let storage = Self.storage(file)
        let floorWindow = net.floorWindowSeconds
        if json {
            var object: [String: Any] = [
                "model": path, "format": model.formatVersion, "kind": net.kind.rawValue, "causal": net.causal,
                "norm": net.norm.rawValue, "input_norm": net.inputNorm.rawValue,
                "parameters": model.net.parameterCount, "sample_rate": model.sampleRate,
                "latency_ms": 1000 * model.latencySeconds,
                "look_ahead_ms": 1000 * Double(net.lookAheadFrames * model.stft.hop) / Double(model.sampleRate),
                "n_fft": model.stft.nFFT, "hop": model.stft.hop, "band_hz": [0, model.sampleRate / 2],
                "high_band_reference_hz": [model.highBand.referenceLowHz,
                                           model.highBand.crossoverHz(sampleRate: model.sampleRate)],
                "mask_exponent": Double(model.maskExponent), "speech_probability": model.hasSpeechHead,
                "stored_as": storage.json,
            ]
            // null: no limit.
            object["attenuation_limit_db"] = model.attenuationLimitDB.map { Double($0) as Any } ?? NSNull()
            // null: one input per bin.
            object["input_bands"] = net.inputBands.map { $0 as Any } ?? NSNull()
            // null: no noise-floor input.
            object["floor_bands"] = net.floorBands.map { $0 as Any } ?? NSNull()
            object["floor_window_s"] = net.floorBands.map { _ in floorWindow as Any } ?? NSNull()
            if let training = model.training { object["training"] = Self.jsonObject(training) }
            if let blend = model.blend {
                var written: [BlendSummary] = []
                object["blend"] = Self.jsonObject(blend, written: &written)
            }
            try Self.printJSON(object)
            return ExitStatus.success
        }
        var rows: [(String, String)] = [("model", path), ("format", model.formatVersion)]
        switch net.kind {
        case .mlp:
            rows.append(("network", "mlp: \(net.hiddenLayers) hidden layers of \(net.hidden), "
                         + "±\(net.context) context frames"))
        case .cnn:
            rows.append(("network", "cnn: \(net.dilations.count) \(net.residual ? "residual " : "")blocks of "
                         + "\(net.hidden) channels, kernel \(net.kernelSize), "
                         + "dilations \(net.dilations.map(String.init).joined(separator: ","))"))
        }
        rows += [
            ("normalisation", net.norm.rawValue + (net.norm.isFrameLocal ? " (streams)" : " (whole-utterance)")),
            ("input norm", net.inputNorm.rawValue + (net.inputNorm == .batch ? " (training data's statistics)" : "")),
            ("input", (net.inputBands.map { "\($0) ERB bands (log band powers)" } ?? "\(net.bins) bins (log powers)")
                + (net.floorBands.map {
                    ", and \($0) ERB bands of height above the noise floor "
                        + "(\(Format.number(Float(floorWindow))) s window)"
                } ?? "")),
            ("dropout", String(format: "%.2f", net.dropout)),
            ("parameters", "\(model.net.parameterCount)"),
            ("stored as", storage.text),
            ("sample rate", "\(model.sampleRate) Hz"),
            ("stft", "n_fft \(model.stft.nFFT), hop \(model.stft.hop), \(model.stft.window.rawValue) window, "
                + "\(net.bins) bins"),
            ("look-ahead", String(format: "%d frames (%.0f ms)", net.lookAheadFrames,
                                  1000 * Double(net.lookAheadFrames * model.stft.hop) / Double(model.sampleRate))
                + (net.causal ? ", causal" : "")),
            ("latency", String(format: "%.0f ms (one %.0f ms frame plus the look-ahead)", 1000 * model.latencySeconds,
                               1000 * Double(model.stft.nFFT) / Double(model.sampleRate))),
            ("band", "0-\(model.sampleRate / 2) Hz, masked by the network"),
            ("above it", Self.describeHighBand(model)),
            ("speech head", model.hasSpeechHead ? "yes: a speech probability per frame (apply --vad FILE.csv)" : "no"),
        ]
        if model.maskExponent != 1 {
            rows.append(("mask exponent", String(format: "%g (apply's default)", model.maskExponent)))
        }
        if let limit = model.attenuationLimitDB {
            rows.append(("attenuation limit", String(format: "%g dB (apply's default)", limit)))
        }
        // Blended (and perhaps trained further since): the weight and the last run of each model blended.
        if let blend = model.blend {
            // Numbered from 1 in the order the file stores them, oldest first (a record's sides before it): the
            // same numbers with or without --history, and --json's indices plus one.
            let numbered = blend.storedRecords
            var shown: [BlendSummary] = []
            rows += Self.describeBlend(blend, numbered: numbered, levels: history ? nil : Self.blendLevelsShown,
                                       shown: &shown)
            let older = numbered.count - shown.count
            if older > 0 {
                rows.append(("older blends", "\(older) more, inside the rows above (info --history lists them)"))
            }
        }
        if let t = model.training {
            // A fine-tuned model: the runs its starting weights came from, oldest first.
            let earlier = t.earlierRuns ?? []
            for (i, run) in earlier.enumerated() { rows.append(("run \(i + 1)", Self.describeRun(run))) }
            let position = earlier.isEmpty ? "" : " (run \(earlier.count + 1), from run \(earlier.count))"
            rows += [
                ("trained", "\(t.epochs) epochs on \(t.trainingPairs) pairs "
                 + "in \(Format.clock(seconds: t.trainingSeconds)); best epoch \(t.bestEpoch)" + position),
                ("validation", String(format: "loss %.5f, SI-SDR gain %+.2f dB", t.validationLoss,
                                      t.validationSISDRGain)),
                ("command", t.command),
            ]
        }
        let width = rows.map(\.0.count).max() ?? 0
        for (label, value) in rows {
            print((label + ":").padding(toLength: width + 2, withPad: " ", startingAt: 0) + value)
        }
        return ExitStatus.success
    }

    /// `60 epochs, best 47 (val loss 0.06313, SI-SDR gain +8.55 dB): denoise train ...`
    private static func describeRun(_ run: TrainingSummary) -> String {
        String(format: "%d epoch%@, best %d (val loss %.5f, SI-SDR gain %+.2f dB): ", run.epochs,
               run.epochs == 1 ? "" : "s", run.bestEpoch, run.validationLoss, run.validationSISDRGain) + run.command
    }

    /// Blend records the table shows without --history: the model's own and its sides'. A model refined by blend
    /// after blend would otherwise print dozens of rows, most of them about files that no longer exist.
    static let blendLevelsShown = 2

    /// The rows of a blend record ("blend N"): the weight and command, then each side ("model N.1", "model N.2")
    /// with the blend it came from and its last run, then the rows of a side's blend, down to `levels` levels (nil:
    /// all). A record is given once, where it is first met: a soup's start is also inside each round trained from
    /// it, and expanded at every path a soup's history grows as 3 to the generations.
    private static func describeBlend(_ blend: BlendSummary, numbered: [BlendSummary], levels: Int?,
                                      shown: inout [BlendSummary]) -> [(String, String)] {
        let share = { (s: Double) in String(format: "%g%%", 100 * s) }
        let number = { (record: BlendSummary) in (numbered.firstIndex(of: record) ?? numbered.count) + 1 }
        let n = number(blend)
        let names = ["model \(n).1", "model \(n).2"]
        shown.append(blend)
        var rows = [("blend \(n)", "\(share(1 - Double(blend.weight))) of \(names[0]), "
                     + "\(share(Double(blend.weight))) of \(names[1])" + (blend.command.map { ": \($0)" } ?? ""))]
        let sides = [(blend.first, blend.firstBlend), (blend.second, blend.secondBlend)]
        let innerRowsShown = levels.map { $0 > 1 } ?? true
        // The records this one's rows expand below it; the second side's may be the first's.
        var expanded: [BlendSummary] = []
        for (name, (training, inner)) in zip(names, sides) {
            let runs = training.map { "\($0.lineage.count) run\($0.lineage.count == 1 ? "" : "s"); the last: "
                                      + describeRun($0) }
            let origin = inner.map { inner in
                let place: String
                if shown.contains(inner) {
                    place = "above"
                } else if innerRowsShown {
                    place = "below"
                    if !expanded.contains(inner) { expanded.append(inner) }
                } else {
                    place = "an older blend"
                }
                return "blend \(number(inner)) (\(place))"
            }
            let parts = [origin, runs].compactMap { $0 }
            rows.append((name, parts.isEmpty ? "no training record" : parts.joined(separator: ", then ")))
        }
        for inner in expanded where !shown.contains(inner) {
            rows += describeBlend(inner, numbered: numbered, levels: levels.map { $0 - 1 }, shown: &shown)
        }
        return rows
    }

    /// A blend record as JSON, as the model file holds it: a side's record written before (a soup's start, met
    /// again inside each round trained from it) is given as its index in the order records are completed, sides
    /// first (`first_blend_index`, `second_blend_index`), instead of in full.
    private static func jsonObject(_ blend: BlendSummary, written: inout [BlendSummary]) -> [String: Any] {
        var record: [String: Any] = ["weight": Double(blend.weight)]
        record["command"] = blend.command
        record["first"] = blend.first.map(jsonObject)
        record["second"] = blend.second.map(jsonObject)
        for (inner, key) in [(blend.firstBlend, "first_blend"), (blend.secondBlend, "second_blend")] {
            guard let inner else { continue }
            if let index = written.firstIndex(of: inner) {
                record[key + "_index"] = index
            } else {
                record[key] = jsonObject(inner, written: &written)
            }
        }
        written.append(blend)
        return record
    }

    private static func jsonObject(_ training: TrainingSummary) -> [String: Any] {
        ["epochs": training.epochs, "best_epoch": training.bestEpoch,
         "validation_loss": Double(training.validationLoss),
         "validation_sisdr_gain_db": Double(training.validationSISDRGain), "runs": training.lineage.count,
         "command": training.command]
    }

    private static func printJSON(_ object: [String: Any]) throws {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        Terminal.writeOut(String(decoding: data, as: UTF8.self) + "\n")
    }

    /// What inputs at higher rates get above the model's band.
    static func describeHighBand(_ model: DenoiseModel) -> String {
        let crossover = Int(model.highBand.crossoverHz(sampleRate: model.sampleRate).rounded())
        return "at higher input rates, one gain per frame: the share of energy the mask keeps at "
            + "\(Int(model.highBand.referenceLowHz.rounded()))-\(crossover) Hz, blended in from \(crossover) Hz"
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
        switch format {
        case .muLaw: return "G.711 mu-law 8-bit"
        case .aLaw: return "G.711 A-law 8-bit"
        case .pcm24in32: return "PCM 24-bit in 32-bit containers"
        default: return (format.isFloat ? "IEEE float " : "PCM ") + "\(format.bitsPerSample)-bit"
        }
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
