import Foundation
import XCTest
@testable import DenoiseKit

/// Small synthetic signals and models shared by the tests.
enum TestSignals {
    /// A speech-like signal: harmonic tones with a syllabic (4 Hz) envelope.
    static func speechLike(seconds: Double, sampleRate: Int = 16000, seed: UInt64 = 1) -> [Float] {
        var rng = RandomGenerator(seed: seed)
        let n = Int(seconds * Double(sampleRate))
        let f0 = rng.uniform(110, 220)
        return (0..<n).map { i in
            let t = Float(i) / Float(sampleRate)
            let envelope = max(0, sin(2 * Float.pi * 4 * t))
            var s: Float = 0
            for h in 1...8 { s += sin(2 * Float.pi * f0 * Float(h) * t) / Float(h) }
            return 0.2 * envelope * s
        }
    }

    static func whiteNoise(count: Int, level: Float = 0.05, seed: UInt64 = 2) -> [Float] {
        var rng = RandomGenerator(seed: seed)
        return (0..<count).map { _ in level * rng.normal() }
    }

    /// A fresh empty folder under the temporary directory.
    static func temporaryFolder(_ name: String = #function) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("denoise-tests-\(name.filter { $0.isLetter })-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func writeWAV(_ samples: [Float], to url: URL, sampleRate: Int = 16000,
                         format: WAVSampleFormat = .pcm16) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        _ = try WAVWriter.write(AudioBuffer(mono: samples, sampleRate: sampleRate), to: url,
                                format: WAVFormat(sampleFormat: format, channelCount: 1, sampleRate: sampleRate))
    }

    /// A small model of `kind` (fast in debug builds).
    static func tinyModel(_ kind: MaskNetKind, norm: NormKind = .layer, inputNorm: InputNormKind = .batch,
                          dropout: Float = 0, residual: Bool = false, causal: Bool = false, speechHead: Bool = false,
                          seed: UInt64 = 3) throws -> DenoiseModel {
        let stft = STFTConfig(nFFT: 64, hop: 32, window: .sqrtHann)
        let config = MaskNetConfig(kind: kind, bins: stft.bins, context: 1, hidden: 8, hiddenLayers: 1, kernelSize: 3,
                                   dilations: [1, 2], residual: residual, causal: causal, norm: norm,
                                   inputNorm: inputNorm, groups: 2, dropout: dropout, speechHead: speechHead)
        return try DenoiseModel(config: config, stft: stft, sampleRate: 16000, seed: seed)
    }

    /// A small residual model with the input options under test (input norm, bands), its weights drawn uniformly
    /// in ±0.4 so that every path's output depends on every weight (fresh initialisations leave some near zero).
    static func randomizedModel(_ kind: MaskNetKind, causal: Bool, inputNorm: InputNormKind, bands: Int? = nil,
                                floorBands: Int? = nil, dropout: Float = 0.1, seed: UInt64 = 3) throws -> DenoiseModel {
        let stft = STFTConfig(nFFT: 64, hop: 32)
        let config = MaskNetConfig(kind: kind, bins: stft.bins, context: 2, hidden: 8, hiddenLayers: 1,
                                   kernelSize: 3, dilations: [1, 2], residual: true, causal: causal,
                                   inputNorm: inputNorm, dropout: dropout, inputBands: bands, floorBands: floorBands)
        let model = try DenoiseModel(config: config, stft: stft, sampleRate: 16000, seed: seed)
        var rng = RandomGenerator(seed: seed + 10)
        randomizeWeights(model.net, rng: &rng)
        return model
    }

    /// Every parameter of `net` drawn uniformly in ±0.4 from `rng`, so that no gain of one or shift of zero hides a
    /// mistake.
    static func randomizeWeights(_ net: MaskNet, rng: inout RandomGenerator) {
        for i in 0..<net.store.count { net.store.values[i] = rng.uniform(-0.4, 0.4) }
        net.store.markValuesChanged()
    }

    /// Log-power features [frames × bins] around −8 nepers with spread 3, as speech and noise give.
    static func logPowers(frames: Int, bins: Int, seed: UInt64) -> Matrix {
        var rng = RandomGenerator(seed: seed)
        return Matrix(rows: frames, cols: bins, values: (0..<(frames * bins)).map { _ in -8 + 3 * rng.normal() })
    }

    /// A safetensors file: 8-byte little-endian header length, the header as given, then `data`.
    static func safeTensorsFile(header: String, data: [UInt8] = []) -> Data {
        let json = Array(header.utf8)
        let length = (0..<8).map { UInt8(truncatingIfNeeded: UInt64(json.count) >> (8 * UInt64($0))) }
        return Data(length + json + data)
    }

    /// The header length a safetensors file's first 8 bytes give (little-endian).
    static func safeTensorsHeaderLength(_ data: Data) -> Int {
        data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
    }

    /// The largest absolute difference between two equally long runs of values.
    static func maxDifference(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Float {
        zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    /// The mask of a whole-utterance `MaskNet.forward` applied by hand: what every path of the denoiser must give.
    private static func wholeUtteranceReference(_ input: [Float], model: DenoiseModel) -> [Float] {
        let stft = STFT(config: model.stft)
        var spectrum = stft.analyze(input)
        let features = Matrix(rows: spectrum.frames, cols: spectrum.bins, values: Features.logPower(spectrum))
        let mask = model.net.forward(features, layout: .single(frames: spectrum.frames), training: false).array
        Features.applyMask(mask, to: &spectrum)
        return stft.synthesize(spectrum, length: input.count)
    }

    /// `input` through a mono denoiser at `rate` in blocks of `pieces` samples (in turn), then its finish: the audio,
    /// and the speech probability of every frame when the model has the head.
    static func denoised(_ input: [Float], model: DenoiseModel, rate: Int = 16000, chunkFrames: Int = 1024,
                         stepsFrames: Bool = true, pieces: [Int] = [1, 333, 50, 4000, 17])
        -> (audio: [Float], speech: [Float]) {
        let denoiser = Denoiser(model: model, channelCount: 1, sampleRate: rate,
                                options: DenoiserOptions(chunkFrames: chunkFrames, recordsSpeechProbability: true),
                                stepsFrames: stepsFrames)
        var out: [Float] = [], position = 0, i = 0
        while position < input.count {
            let n = min(pieces[i % pieces.count], input.count - position)
            out += denoiser.process(AudioBuffer(mono: Array(input[position ..< position + n]), sampleRate: rate))
                .channels[0]
            position += n
            i += 1
        }
        out += denoiser.finish().channels[0]
        return (out, denoiser.takeSpeechProbabilities())
    }

    /// Speech-like signal plus white noise at `rate`.
    static func noisySpeech(seconds: Double, rate: Int) -> [Float] {
        let speech = speechLike(seconds: seconds, sampleRate: rate)
        return zip(speech, whiteNoise(count: speech.count)).map { $0 + $1 }
    }

    /// `input` through `process(_:into:)` of `denoiser` in blocks cycling through `sizes`, as a host's buffers of
    /// one output array: spans made from its pointers (MutableSpan has no settled sub-span API yet).
    static func fixedLatencyOutput(_ denoiser: Denoiser, _ input: [Float], sizes: [Int]) -> [Float] {
        var output = [Float](repeating: .nan, count: input.count)
        var position = 0, i = 0
        output.withUnsafeMutableBufferPointer { y in
            while position < input.count {
                let n = min(sizes[i % sizes.count], input.count - position)
                var block = UnsafeMutableBufferPointer(rebasing: y[position ..< position + n]).mutableSpan
                denoiser.process(input.span.extracting(position ..< position + n), into: &block)
                position += n
                i += 1
            }
        }
        return output
    }

    /// The denoiser's windows (several, with history and look-ahead frames seen twice, fed in odd block sizes) and,
    /// for a causal model, its frame steps give the output of the whole-utterance mask applied by hand, to 1e-5; and
    /// that output is not the input.
    static func checkDenoiserPathsMatchWholeUtterance(_ model: DenoiseModel, _ label: String,
                                                      file: StaticString = #filePath, line: UInt = #line) {
        let input = zip(speechLike(seconds: 0.6), whiteNoise(count: 9600)).map { $0 + $1 }
        let reference = wholeUtteranceReference(input, model: model)
        var outputs = [
            "windows of 3": denoised(input, model: model, chunkFrames: 3, stepsFrames: false,
                                     pieces: [1, 333, 50, 4000, 17]).audio,
            "windows of 8": denoised(input, model: model, chunkFrames: 8, stepsFrames: false, pieces: [700]).audio,
        ]
        if model.net.config.causal {
            XCTAssertTrue(MaskNetStream.canStream(model.net.config), label, file: file, line: line)
            outputs["steps"] = denoised(input, model: model, chunkFrames: 3, stepsFrames: true,
                                        pieces: [1, 333, 50, 4000, 17]).audio
        }
        for (path, output) in outputs {
            XCTAssertEqual(output.count, input.count, "\(label), \(path)", file: file, line: line)
            XCTAssertLessThan(maxDifference(output[...], reference[...]), 1e-5, "\(label), \(path)",
                              file: file, line: line)
        }
        XCTAssertGreaterThan(maxDifference(reference[...], input[...]), 1e-3, label, file: file, line: line)
    }

    /// A model file of a new format: `model` is written as `version` (the oldest that describes it, so older builds
    /// refuse it), with `configJSON` in its configuration; read back, it has the same configuration and gives the
    /// same masks. Returns the copy read.
    @discardableResult
    static func checkNewFormatRoundTrip(_ model: DenoiseModel, version: String, configJSON: String,
                                        file: StaticString = #filePath, line: UInt = #line) throws -> DenoiseModel {
        XCTAssertEqual(model.formatVersion, version, file: file, line: line)
        XCTAssertTrue(DenoiseModel.formatVersions.contains(version), "this build reads it", file: file, line: line)
        let saved = model.safeTensors()
        XCTAssertTrue(saved.metadata["masknet"]?.contains(configJSON) ?? false, file: file, line: line)
        let loaded = try DenoiseModel(safeTensors: saved, path: "m")
        XCTAssertEqual(loaded.net.config, model.net.config, file: file, line: line)
        let x = logPowers(frames: 30, bins: model.net.config.bins, seed: 13)
        XCTAssertEqual(loaded.net.forward(x, layout: .single(frames: 30), training: false).array,
                       model.net.forward(x, layout: .single(frames: 30), training: false).array, file: file, line: line)
        return loaded
    }

    /// Steps `net` through the frames of `x` twice, with a reset between, and checks each pass against the
    /// whole-utterance `forward` to 1e-5.
    static func checkStreamMatchesForward(_ net: MaskNet, features x: Matrix, _ label: String,
                                          file: StaticString = #filePath, line: UInt = #line) throws {
        let whole = net.forward(x, layout: .single(frames: x.rows), training: false).array
        let stream = try MaskNetStream(net)
        var mask = [Float](repeating: 0, count: x.cols)
        for pass in 0..<2 {
            var steps: [Float] = []
            for t in 0..<x.rows {
                mask.withUnsafeMutableBufferPointer { stream.step(UnsafePointer(x.row(t)), mask: $0.baseAddress!) }
                steps += mask
            }
            let worst = zip(steps, whole).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThan(worst, 1e-5, "\(label), pass \(pass)", file: file, line: line)
            stream.reset()
        }
    }

    /// Location of the shared data folder (../shared/data beside the package), nil when absent.
    static var sharedData: URL? {
        let root = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let data = root.deletingLastPathComponent().appendingPathComponent("shared/data")
        return FileManager.default.fileExists(atPath: data.appendingPathComponent("test/clean").path) ? data : nil
    }
}
