import DenoiseKit
import Foundation

/// `denoise bench`: measure the speed of each stage on this machine, on synthetic data it makes.
/// Each figure is the median of several runs after a warm-up; ratios are only meaningful within one run.
struct BenchCommand: Command {
    let name = "bench"
    let abstract = "Measure denoising speed, training throughput and memory on this machine."
    let usage = ["bench [--quick] [--json] [--model MODEL]"]
    let options: [Option] = [
        .flag("quick", help: "Fewer repeats and smaller files (less precise, about 4 times faster)."),
        .flag("json", help: "Print the results as one JSON object on stdout instead of a table."),
        .option("model", value: "MODEL", help: "Also time this model's file path on one thread (rtf_model_1t), "
                + "to compare it in one run with the bundled default (rtf_default_model_1t), and for a causal "
                + "model its live path (model_stream_block_p99_ms, beside stream_block_p99_ms)."),
    ]
    let discussion = """
        Models are the default MLP and CNN with random weights (speed does not depend on the weights), and the \
        bundled default and real-time models (random weights of their shapes when the source tree is gone). Training \
        batches hold 16 utterances of 2-4 s. The real-time factor is processing time divided by audio duration \
        (lower is faster). Peak memory and batch throughput are measured on child 'denoise apply' processes, \
        training memory on one epoch of a child 'denoise train' over an 8-hour corpus (test pairs repeated). \
        blas_kernels names the OpenBLAS kernels every product ran on (chosen for the CPU, or by OPENBLAS_CORETYPE): \
        compare figures only between runs on the same kernels.
        """

    func run(_ arguments: ParsedArguments) throws -> Int32 {
        // Read first, so that a bad file is reported before minutes of measuring.
        let model = try arguments.path("model").map { try DenoiseModel.load(url: $0) }
        let bench = Bench(quick: arguments.flag("quick"), candidate: model,
                          log: arguments.flag("json") ? { _ in } : { Terminal.writeError($0) })
        let results = try bench.runAll()
        // The kernels decide the speed of every product, so the figures name them.
        let kernels = BLAS.kernels
        if arguments.flag("json") {
            let body = ["  \"blas_kernels\": \"\(kernels)\""]
                + results.map { "  \"\($0.key)\": \(Bench.json($0.value))" }
            Terminal.writeOut("{\n\(body.joined(separator: ",\n"))\n}\n")
        } else {
            Terminal.writeOut("OpenBLAS kernels: \(kernels)\n" + Bench.table(results))
        }
        return ExitStatus.success
    }
}

/// The measurements behind `denoise bench`.
struct Bench {
    struct Result {
        let key: String
        let label: String
        let value: Double
        let unit: String
    }

    let quick: Bool
    /// A model to time beside the bundled default (`bench --model`).
    var candidate: DenoiseModel?
    let log: (String) -> Void
    let cores = ProcessInfo.processInfo.activeProcessorCount

    private var repeats: Int { quick ? 3 : 5 }

    func runAll() throws -> [Result] {
        let only = ProcessInfo.processInfo.environment[Self.onlyLongTrainingVariable]
        if only == Self.onlyLongTrainingValue {
            return try withTemporaryFolder { try longTrainingResults(in: $0) }
        }
        var results: [Result] = []
        func add(_ key: String, _ label: String, _ value: Double, _ unit: String) {
            results.append(Result(key: key, label: label, value: value, unit: unit))
        }
        if only == Self.onlyInferenceValue {
            try addInference(add)
            return results
        }

        log("stft …\n")
        add("stft_istft_realtime_x", "STFT + inverse STFT throughput", stftThroughput(), "× real time")

        log("sgemm …\n")
        BLAS.useThreads(1)
        let peak = sgemmGFLOPs(m: 1024, n: 1024, k: 1024)
        add("sgemm_gflops_1t", "sgemm 1024³, 1 thread", peak, "GFLOP/s")
        // The largest products of a training step (MLP, 16 × 4 s batch): forward, input gradient, weight gradient.
        let shapes = [(4000, 512, 1285, false, true), (4000, 1285, 512, false, false), (512, 1285, 4000, true, false)]
        let ours = shapes.map { sgemmGFLOPs(m: $0.0, n: $0.1, k: $0.2, transA: $0.3, transB: $0.4) }
        add("sgemm_gflops_model_shapes_1t", "sgemm at the MLP's shapes, 1 thread (mean)",
            ours.reduce(0, +) / 3, "GFLOP/s")

        for kind in MaskNetKind.allCases {
            for threads in [1, cores] where threads == 1 || cores > 1 {
                log("training \(kind.rawValue), \(threads) thread\(threads > 1 ? "s" : "") …\n")
                let (fps, parameters) = try trainingFramesPerSecond(kind, threads: threads)
                add("train_\(kind.rawValue)_fps_\(threads)t", "training \(kind.rawValue), \(threads) thread(s)",
                    fps, "frames/s")
                if threads == 1 {
                    add("train_\(kind.rawValue)_peak_fraction_1t",
                        "  model FLOP/s (6 × params × frames/s) / sgemm peak",
                        6 * Double(parameters) * fps / 1e9 / peak, "")
                }
            }
        }
        if cores == 1 {
            for kind in MaskNetKind.allCases {
                let one = results.first { $0.key == "train_\(kind.rawValue)_fps_1t" }!.value
                add("train_\(kind.rawValue)_fps_2t", "training \(kind.rawValue), 2 threads (1 core here)",
                    one, "frames/s")
            }
        }

        try addInference(add)

        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("denoise-bench-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let modelURL = folder.appendingPathComponent("mlp.safetensors")
        try DenoiseModel(config: MaskNetConfig(kind: .mlp)).save(to: modelURL)

        let hours = quick ? 0.25 : 1.0
        log("apply on a \(Int(hours * 60))-minute file (peak memory) …\n")
        let long = folder.appendingPathComponent("long.wav")
        try writeNoise(seconds: hours * 3600, to: long)
        let (rss, _) = try runChild(["apply", "-m", modelURL.path, long.path,
                                     folder.appendingPathComponent("long-out.wav").path])
        add("apply_1h_peak_rss_mb", "apply on a \(Int(hours * 60))-minute file: peak resident memory", rss, "MB")

        let count = quick ? 16 : 64
        log("batch of \(count) × 10 s files …\n")
        let inputs = folder.appendingPathComponent("batch")
        for i in 0..<count {
            try writeNoise(seconds: 10, to: inputs.appendingPathComponent("f\(i).wav"), seed: UInt64(i))
        }
        // -j 1 and -j 2 alternate, so that a slow spell of the machine does not fall on one of them only.
        var seconds: [Int: [Double]] = [1: [], 2: []]
        for round in 0..<(quick ? 1 : 3) {
            for jobs in [1, 2] {
                let out = folder.appendingPathComponent("out\(jobs)-\(round)")
                let arguments = ["apply", "-m", modelURL.path, "-j", "\(jobs)", "-o", out.path, inputs.path]
                let (_, time) = try runChild(arguments, pollingMemory: false)
                seconds[jobs]!.append(time)
                try? FileManager.default.removeItem(at: out)
            }
        }
        let filesPerSecond = seconds.mapValues { Double(count) / median($0) }
        for jobs in [1, 2] {
            add("batch_files_per_s_j\(jobs)", "batch apply -j \(jobs)", filesPerSecond[jobs]!, "files/s")
        }
        add("batch_speedup_j2", "batch speed-up, -j 2 over -j 1", filesPerSecond[2]! / filesPerSecond[1]!, "×")

        results += try longTrainingResults(in: folder)
        return results
    }

    private func withTemporaryFolder<T>(_ body: (URL) throws -> T) throws -> T {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("denoise-bench-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        return try body(folder)
    }

    /// Inference speed on one thread (the denoiser's default): 16 kHz mono files, a 48 kHz stereo file and the live,
    /// hop-by-hop path.
    private func addInference(_ add: (String, String, Double, String) -> Void) throws {
        let input = noiseInput(seconds: quick ? 20 : 60)
        for kind in MaskNetKind.allCases {
            log("inference \(kind.rawValue) …\n")
            add("rtf_\(kind.rawValue)_1t", "apply \(kind.rawValue), 60 s file, 1 thread: real-time factor",
                realTimeFactor(try DenoiseModel(config: MaskNetConfig(kind: kind)), on: input), "")
        }
        log("inference with the default and the real-time model …\n")
        let defaultModel = try Self.bundledModel(ModelLocator.defaultFileName, causal: false)
        let realTimeModel = try Self.bundledModel(ModelLocator.realTimeFileName, causal: true)
        // The models alternate, three times, so that a slow spell of the machine does not fall on one of them only;
        // each row is the median of its three.
        var defaultTimes: [Double] = [], realTimeTimes: [Double] = [], candidateTimes: [Double] = []
        for _ in 0..<3 {
            defaultTimes.append(realTimeFactor(defaultModel, on: input))
            realTimeTimes.append(realTimeFactor(realTimeModel, on: input))
            if let candidate { candidateTimes.append(realTimeFactor(candidate, on: input)) }
        }
        add("rtf_default_model_1t", "apply with the default model, 60 s file, 1 thread: real-time factor",
            median(defaultTimes), "")
        add("rtf_realtime_model_1t", "apply with the real-time model, the same file: real-time factor",
            median(realTimeTimes), "")
        if candidate != nil {
            add("rtf_model_1t", "apply with --model, 60 s file, 1 thread: real-time factor", median(candidateTimes), "")
        }
        log("inference on a 48 kHz stereo file …\n")
        add("rtf_48k_stereo_1t", "apply cnn, 60 s 48 kHz stereo file, 1 thread: real-time factor",
            try fullBandFileRealTimeFactor(), "")
        log("real-time path, one hop at a time …\n")
        let stream = streamBlockTimes(realTimeModel)
        add("stream_block_p99_ms", "real-time model at 48 kHz, one 16 ms hop per call, 1 thread: 99th percentile",
            stream.p99, "ms")
        // On a busy machine the wall-clock tail is mostly waiting for a core; the median and the thread's own CPU
        // time show the work itself.
        add("stream_block_p50_ms", "  median", stream.p50, "ms")
        add("stream_block_cpu_p99_ms", "  99th percentile of the thread's CPU time", stream.cpuP99, "ms")
        add("latency_ms", "real-time model: algorithmic latency (one frame, no look-ahead)", stream.latency, "ms")
        if let candidate, candidate.net.config.causal {
            log("real-time path with --model …\n")
            let times = streamBlockTimes(candidate)
            add("model_stream_block_p99_ms", "--model (causal), the same path: 99th percentile", times.p99, "ms")
            add("model_stream_block_cpu_p99_ms", "  99th percentile of the thread's CPU time", times.cpuP99, "ms")
        }
    }

    // MARK: - Measurements

    private func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

    /// Median seconds of `body` over `repeats` runs after one warm-up run.
    private func time(_ body: () throws -> Void) rethrows -> Double {
        try body()
        var times: [Double] = []
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return median(times)
    }

    private func stftThroughput() -> Double {
        var rng = RandomGenerator(seed: 1)
        let seconds = 60.0
        let x = (0..<Int(seconds * 16000)).map { _ in 0.1 * rng.normal() }
        let stft = STFT(config: STFTConfig())
        let t = time { _ = stft.synthesize(stft.analyze(x), length: x.count) }
        return seconds / t
    }

    private func sgemmGFLOPs(m: Int, n: Int, k: Int, transA: Bool = false, transB: Bool = false) -> Double {
        let product = BLAS.product(m: m, n: n, k: k, transA: transA, transB: transB)
        let t = time(product)
        return 2 * Double(m) * Double(n) * Double(k) / t / 1e9
    }

    /// Real frames per second of `train`'s own step (forward, the loss with its default intelligibility and speech
    /// terms, backward, AdamW) on one batch of 16 utterances of 2–4 s, with the library's default options.
    private func trainingFramesPerSecond(_ kind: MaskNetKind, threads: Int) throws -> (Double, Int) {
        let options = TrainingOptions()
        let model = try DenoiseModel(config: MaskNetConfig(kind: kind, speechHead: options.vadWeight > 0))
        var rng = RandomGenerator(seed: 2)
        let pairs: [(noisy: [Float], clean: [Float])] = (0..<16).map { _ in
            let n = 32000 + Int(rng.next() % 32001)
            let clean = (0..<n).map { _ in 0.1 * rng.normal() }
            return (clean.map { $0 + 0.05 * rng.normal() }, clean)
        }
        let none = PairDataset(utterances: [])
        let trainer = try Trainer(model: model, train: none, validation: none, options: options, threads: threads)
        let batch = trainer.batch(of: pairs)
        let t = try time { _ = try trainer.step(on: batch) }
        return (Double(batch.realFrames) / t, model.net.parameterCount)
    }

    /// The bundled model `fileName`, or for a build without its source tree a network of its shape with random
    /// weights: speed does not depend on the weights.
    private static func bundledModel(_ fileName: String, causal: Bool) throws -> DenoiseModel {
        if let url = ModelLocator.bundled(fileName) { return try DenoiseModel.load(url: url) }
        return try DenoiseModel(config: standInConfig(causal: causal))
    }

    /// The bundled models' shapes: residual kernel-3 blocks with a speech head and the 32-band noise-floor input;
    /// five centred blocks and a 3 s floor for the default, seven causal blocks and the default floor for the
    /// real-time model. A test holds them to the bundled files.
    static func standInConfig(causal: Bool) -> MaskNetConfig {
        MaskNetConfig(kind: .cnn, kernelSize: 3, dilations: causal ? [1, 2, 4, 8, 16, 1, 1] : [1, 2, 4, 8, 16],
                      residual: true, causal: causal, speechHead: true, floorBands: 32,
                      floorWindow: causal ? nil : 3)
    }

    /// Mono 16 kHz white noise at −20 dBFS RMS: what the file-path rows run on.
    private func noiseInput(seconds: Double) -> AudioBuffer {
        var rng = RandomGenerator(seed: 3)
        return AudioBuffer(mono: (0..<Int(seconds * 16000)).map { _ in 0.1 * rng.normal() }, sampleRate: 16000)
    }

    /// The whole streaming path (STFT, features, network, mask, inverse STFT) on `input`, per second of it.
    private func realTimeFactor(_ model: DenoiseModel, on input: AudioBuffer) -> Double {
        time { _ = Denoiser.enhance(input, model: model) } / input.duration
    }

    /// The live path as a plugin host drives it: `model` (the bundled real-time model, or without the source tree
    /// a causal CNN of its shape with random weights: speed does not depend on the weights) fed one hop of 48 kHz
    /// mono at a time through the fixed-latency `process(_:into:)`. The median and 99th percentile of the per-call
    /// wall-clock times after a second of warm-up, the 99th percentile of the thread's CPU time per call, all in
    /// ms, and the model's latency in ms.
    private func streamBlockTimes(_ model: DenoiseModel)
        -> (p50: Double, p99: Double, cpuP99: Double, latency: Double) {
        let rate = 48000, hop = model.stft.hop * rate / model.sampleRate
        let denoiser = Denoiser(model: model, channelCount: 1, sampleRate: rate)
        var rng = RandomGenerator(seed: 4)
        let warmUp = rate / hop, calls = warmUp + (quick ? 1000 : 4000)
        var times: [Double] = [], cpuTimes: [Double] = []
        times.reserveCapacity(calls)
        cpuTimes.reserveCapacity(calls)
        var block = [Float](repeating: 0, count: hop), out = block
        for call in 0..<calls {
            for i in 0..<hop { block[i] = 0.1 * rng.normal() }
            var output = out.mutableSpan
            let start = DispatchTime.now().uptimeNanoseconds, cpuStart = threadCPUMilliseconds()
            denoiser.process(block.span, into: &output)
            if call >= warmUp {
                times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
                cpuTimes.append(threadCPUMilliseconds() - cpuStart)
            }
        }
        times.sort()
        cpuTimes.sort()
        return (times[times.count / 2], times[times.count * 99 / 100], cpuTimes[cpuTimes.count * 99 / 100],
                1000 * model.latencySeconds)
    }

    /// CPU time this thread has run, in ms: what a call cost, without the time it waited for a core.
    private func threadCPUMilliseconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return Double(t.tv_sec) * 1e3 + Double(t.tv_nsec) / 1e6
    }

    /// `apply`'s whole file path (read, split band, network, write) on a 60 s 48 kHz stereo 16-bit WAV file.
    private func fullBandFileRealTimeFactor() throws -> Double {
        let model = try DenoiseModel(config: MaskNetConfig(kind: .cnn))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("denoise-bench-48k-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let seconds = quick ? 20.0 : 60.0
        let input = folder.appendingPathComponent("in.wav"), output = folder.appendingPathComponent("out.wav")
        try writeNoise(seconds: seconds, to: input, sampleRate: 48000, channels: 2)
        let t = try time {
            _ = try FileEnhancer.enhance(input: input, output: output, model: model, force: true)
        }
        return t / seconds
    }

    private func writeNoise(seconds: Double, to url: URL, seed: UInt64 = 9, sampleRate: Int = 16000,
                            channels: Int = 1) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        var rng = RandomGenerator(seed: seed)
        let format = WAVFormat(sampleFormat: .pcm16, channelCount: channels, sampleRate: sampleRate)
        let writer = try WAVWriter(url: url, format: format)
        var remaining = Int(seconds * Double(sampleRate))
        while remaining > 0 {
            let n = min(remaining, 1 << 16)
            let block = (0..<channels).map { _ in (0..<n).map { _ in 0.1 * rng.normal() } }
            try writer.write(AudioBuffer(channels: block, sampleRate: sampleRate))
            remaining -= n
        }
        try writer.finish()
    }

    /// Runs this executable with `arguments` (and `environment` added to this process's); returns its peak resident
    /// memory (MB, 0 unless `pollingMemory`) and wall time (s).
    ///
    /// The peak is the child's own VmHWM, polled from /proc while it runs: the rusage of a spawned child
    /// also counts the parent's memory at the moment of exec, and this process holds benchmark data. Polling
    /// every 20 ms adds up to 20 ms to the wall time, so timed runs wait for the child without it.
    func runChild(_ arguments: [String], pollingMemory: Bool = true,
                  environment: [String: String] = [:]) throws -> (Double, Double) {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        var pid: pid_t = 0
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let variables = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let envp = variables.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }
        let start = DispatchTime.now().uptimeNanoseconds
        guard posix_spawn(&pid, executable, nil, nil, argv, envp) == 0 else {
            throw CommandError("cannot start \(executable) for a benchmark")
        }
        var status: Int32 = 0
        var peakKB = 0
        while true {
            if pollingMemory, let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
               let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
               let kb = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") {
                peakKB = max(peakKB, kb)
            }
            let done = waitpid(pid, &status, pollingMemory ? WNOHANG : 0)
            if done == pid || (done < 0 && errno != EINTR) { break }
            if pollingMemory { usleep(20_000) }
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        guard status == 0 else {
            throw CommandError("benchmark child 'denoise \(arguments.joined(separator: " "))' failed")
        }
        return (Double(peakKB) / 1024, seconds)
    }

    // MARK: - Output

    static func json(_ value: Double) -> String { value.isFinite ? String(format: "%.6g", value) : "null" }

    static func table(_ results: [Result]) -> String {
        let width = results.map(\.label.count).max() ?? 0
        return results.map { r in
            let value = r.value >= 100 ? String(format: "%.0f", r.value) : String(format: "%.4g", r.value)
            return r.label.padding(toLength: width + 2, withPad: " ", startingAt: 0) + value
                + (r.unit.isEmpty ? "" : " " + r.unit)
        }.joined(separator: "\n") + "\n"
    }
}
