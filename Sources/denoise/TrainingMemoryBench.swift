import DenoiseKit
import Foundation

/// The cost of training on a corpus larger than memory: one epoch of `denoise train` over an 8-hour corpus, in a
/// child process on one BLAS thread, once streaming its pairs from disk and once with --preload for comparison.
extension Bench {
    /// Set to this in the environment, `denoise bench` measures only these figures (they take minutes).
    static let onlyLongTrainingVariable = "DENOISE_BENCH_ONLY"
    static let onlyLongTrainingValue = "train-8h"
    /// The same variable set to this runs the inference figures alone.
    static let onlyInferenceValue = "inference"

    /// Pairs whose repetitions make up the corpus, when run from the repository beside the shared data.
    private static let sharedPairs = URL(fileURLWithPath: "../shared/data/test")

    func longTrainingResults(in folder: URL) throws -> [Result] {
        let hours = quick ? 1.0 : 8.0
        let corpus = folder.appendingPathComponent("corpus-\(Int(hours))h")
        log("training on a \(Int(hours))-hour corpus (peak memory, frames/s) …\n")
        let source = try writeRepeatedCorpus(hours: hours, in: corpus)
        let size = quick ? " (quick: a 1-hour corpus)" : ""
        var results: [Result] = []
        for preload in [false, true] {
            let run = folder.appendingPathComponent(preload ? "run-preload" : "run-stream")
            let arguments = ["train", "--noisy", corpus.appendingPathComponent("noisy").path,
                             "--clean", corpus.appendingPathComponent("clean").path, "-o", run.path,
                             "--epochs", "1", "--schedule", "none", "--quiet"] + (preload ? ["--preload"] : [])
            let (rss, _) = try runChild(arguments, environment: ["OPENBLAS_NUM_THREADS": "1"])
            let fps = try Self.trainingFramesPerSecond(run)
            try? FileManager.default.removeItem(at: run)
            let key = preload ? "train_8h_preload" : "train_8h"
            let how = preload ? "read into memory (--preload)" : "streamed from disk"
            results.append(Result(key: "\(key)_peak_rss_mb", label: "train, one epoch, 8 h of \(source) \(how)\(size): "
                                  + "peak resident memory", value: rss, unit: "MB"))
            results.append(Result(key: "\(key)_fps_1t", label: "  training frames/s, 1 thread", value: fps,
                                  unit: "frames/s"))
        }
        return results
    }

    /// The training frames/s of the first epoch in RUN_DIR/metrics.csv.
    private static func trainingFramesPerSecond(_ run: URL) throws -> Double {
        let metrics = TrainingRun(directory: run).metricsURL
        let text = try String(contentsOf: metrics, encoding: .utf8)
        let lines = text.split(separator: "\n")
        guard lines.count >= 2, let fps = lines[1].split(separator: ",").last.flatMap({ Double($0) }) else {
            throw CommandError("\(metrics.path): no epoch recorded by the benchmark's training run")
        }
        return fps
    }

    /// Fills `folder`/noisy and `folder`/clean with symbolic links to the pairs of ../shared/data/test (or, without
    /// it, of synthetic pairs written under `folder`) repeated until they last `hours`. Returns what the pairs are.
    private func writeRepeatedCorpus(hours: Double, in folder: URL) throws -> String {
        let manager = FileManager.default
        var source = Self.sharedPairs.standardizedFileURL
        var description = "../shared/data/test repeated"
        if !manager.fileExists(atPath: source.appendingPathComponent("clean").path) {
            source = folder.appendingPathComponent("source")
            try writeSyntheticPairs(count: 40, seconds: 3, in: source)
            description = "synthetic pairs repeated"
        }
        let noisySource = source.appendingPathComponent("noisy"), cleanSource = source.appendingPathComponent("clean")
        let cleanNames = Set(try WAVFiles.relativePaths(under: cleanSource))
        let names = try WAVFiles.relativePaths(under: noisySource).filter { cleanNames.contains($0) }
        var seconds = 0.0
        for name in names {
            let reader = try WAVReader(url: cleanSource.appendingPathComponent(name))
            seconds += Double(reader.frameCount) / Double(reader.format.sampleRate)
        }
        guard seconds > 0 else { throw CommandError("\(source.path): no pairs to build a training corpus from") }
        let copies = Int((hours * 3600 / seconds).rounded(.up))
        for side in ["noisy", "clean"] {
            let target = folder.appendingPathComponent(side), origin = source.appendingPathComponent(side)
            try manager.createDirectory(at: target, withIntermediateDirectories: true)
            for copy in 0..<copies {
                for name in names {
                    let link = target.appendingPathComponent("\(copy)-" + name.replacingOccurrences(of: "/", with: "_"))
                    try manager.createSymbolicLink(at: link, withDestinationURL: origin.appendingPathComponent(name))
                }
            }
        }
        return description
    }

    /// `count` pairs of a tone (speech stand-in) and the tone in white noise.
    private func writeSyntheticPairs(count: Int, seconds: Double, in folder: URL) throws {
        var rng = RandomGenerator(seed: 11)
        let format = WAVFormat(sampleFormat: .pcm16, channelCount: 1, sampleRate: 16000)
        for i in 0..<count {
            let pitch = Float(100 + 20 * i)
            let clean = (0..<Int(seconds * 16000)).map { 0.2 * sin(2 * Float.pi * pitch * Float($0) / 16000) }
            for (side, samples) in [("clean", clean), ("noisy", clean.map { $0 + 0.05 * rng.normal() })] {
                let url = folder.appendingPathComponent(side).appendingPathComponent("p\(i).wav")
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(),
                                                        withIntermediateDirectories: true)
                let writer = try WAVWriter(url: url, format: format)
                try writer.write(AudioBuffer(mono: samples, sampleRate: 16000))
                try writer.finish()
            }
        }
    }
}
