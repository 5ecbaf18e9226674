import Foundation
@testable import DenoiseKit
import XCTest

/// `denoise info` on WAV files written by hand in the test.
final class InfoCommandTests: XCTestCase {
    /// `key: value` lines of the output.
    private func fields(_ output: String) -> [String: String] {
        var fields: [String: String] = [:]
        for line in output.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return fields
    }

    private func info(_ url: URL) throws -> RunResult { try DenoiseRunner.run(["info", url.path]) }

    func testInfoReportsMonoFormatDurationAndLevels() throws {
        // 5 s at 16 kHz, alternating ±8192 (amplitude 1/4: -12.04 dBFS) with one sample at 16384 (1/2:
        // -6.02 dBFS) placed after the first 64 Ki frames, so a reader that stops after one chunk misses it.
        var samples = repeating([8192, -8192], count: 80_000)
        samples[70_001] = 16_384
        let url = try makeTemporaryDirectory().appendingPathComponent("mono.wav")
        try wav16(sampleRate: 16_000, channels: [samples]).write(to: url)

        let result = try info(url)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stderr, "")
        let fields = fields(result.stdout)
        XCTAssertEqual(fields["format"], "PCM 16-bit")
        XCTAssertEqual(fields["sample rate"], "16000 Hz")
        XCTAssertEqual(fields["channels"], "1")
        XCTAssertEqual(fields["duration"], "0:00:05.000 (5.000 s)")
        XCTAssertEqual(fields["frames"], "80000")
        XCTAssertEqual(fields["peak"], "-6.02 dBFS")
        // One louder sample in 80000 moves the RMS by 1.6e-4 dB: still -12.04.
        XCTAssertEqual(fields["rms"], "-12.04 dBFS")
    }

    func testInfoReportsLevelsPerChannelForStereo() throws {
        // 0.5 s at 48 kHz. Left: [1/2, -1/2, 0, 0] repeated, peak -6.02 dBFS, mean square 1/8 → RMS -9.03 dBFS.
        // Right: ±1/8, peak = RMS = -18.06 dBFS.
        let left = repeating([16_384, -16_384, 0, 0], count: 24_000)
        let right = repeating([4096, -4096], count: 24_000)
        let url = try makeTemporaryDirectory().appendingPathComponent("stereo.wav")
        try wav16(sampleRate: 48_000, channels: [left, right]).write(to: url)

        let result = try info(url)
        XCTAssertEqual(result.status, 0, result.stderr)
        let fields = fields(result.stdout)
        XCTAssertEqual(fields["sample rate"], "48000 Hz")
        XCTAssertEqual(fields["channels"], "2")
        XCTAssertEqual(fields["duration"], "0:00:00.500 (0.500 s)")
        XCTAssertEqual(fields["frames"], "24000")
        XCTAssertEqual(fields["peak"], "ch1 -6.02 dBFS, ch2 -18.06 dBFS")
        XCTAssertEqual(fields["rms"], "ch1 -9.03 dBFS, ch2 -18.06 dBFS")
    }

    func testInfoReportsSilenceAsMinusInfinity() throws {
        let url = try makeTemporaryDirectory().appendingPathComponent("silence.wav")
        try wav16(sampleRate: 8000, channels: [[Int16](repeating: 0, count: 8000)]).write(to: url)
        let result = try info(url)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(fields(result.stdout)["peak"], "-inf dBFS")
        XCTAssertEqual(fields(result.stdout)["duration"], "0:00:01.000 (1.000 s)")
    }

    func testInfoThroughASymbolicLinkReportsTheFileItPointsTo() throws {
        let folder = try makeTemporaryDirectory()
        let target = folder.appendingPathComponent("target.wav")
        try wav16(sampleRate: 16_000, channels: [[Int16](repeating: 0, count: 4000)]).write(to: target)
        let link = folder.appendingPathComponent("link.wav")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: target)
        let result = try info(link)
        XCTAssertEqual(result.status, 0, result.stderr)
        // 44-byte header + 8000 bytes of samples = 8044 B = 7.86 KiB, not the few bytes of the link itself.
        XCTAssertEqual(fields(result.stdout)["size"], "7.9 KiB")
        XCTAssertEqual(fields(result.stdout)["frames"], "4000")
    }

    func testInfoOnMissingFileExits1WithOneLineNamingIt() throws {
        let url = try makeTemporaryDirectory().appendingPathComponent("missing.wav")
        let result = try info(url)
        XCTAssertEqual(result.status, 1)
        XCTAssertEqual(result.stdout, "")
        XCTAssertEqual(result.stderrLines.count, 1, result.stderr)
        XCTAssertTrue(result.stderr.hasPrefix("error: "), result.stderr)
        XCTAssertTrue(result.stderr.contains("missing.wav"), result.stderr)
    }

    func testInfoOnTextFileNamedWavExits1WithOneLineNamingIt() throws {
        let url = try makeTemporaryDirectory().appendingPathComponent("notes.wav")
        try Data("these are not samples\n".utf8).write(to: url)
        let result = try info(url)
        XCTAssertEqual(result.status, 1)
        XCTAssertEqual(result.stdout, "")
        XCTAssertEqual(result.stderrLines.count, 1, result.stderr)
        XCTAssertTrue(result.stderr.hasPrefix("error: "), result.stderr)
        XCTAssertTrue(result.stderr.contains("notes.wav"), result.stderr)
    }

    func testInfoOnCorruptModelFileExits1WithOneLineNamingIt() throws {
        let url = try makeTemporaryDirectory().appendingPathComponent("model.safetensors")
        try Data([0, 0, 0, 0, 0, 0, 0, 0]).write(to: url)
        let result = try info(url)
        XCTAssertEqual(result.status, 1)
        XCTAssertEqual(result.stderrLines.count, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains("model.safetensors: not a valid model file"), result.stderr)
    }

    func testInfoJSONOnAModelHasRateLatencyParametersAndCausality() throws {
        let url = try makeTemporaryDirectory().appendingPathComponent("m.safetensors")
        let config = MaskNetConfig(kind: .cnn, bins: 33, hidden: 8, kernelSize: 3, dilations: [1, 2], causal: true)
        let model = try DenoiseModel(config: config, stft: STFTConfig(nFFT: 64, hop: 32))
        try model.save(to: url)
        let result = try DenoiseRunner.run(["info", "--json", url.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(object["sample_rate"] as? Int, 16000)
        XCTAssertEqual(object["latency_ms"] as? Double, 4)
        XCTAssertEqual(object["parameters"] as? Int, model.net.parameterCount)
        XCTAssertEqual(object["causal"] as? Bool, true)
        XCTAssertEqual(object["band_hz"] as? [Int], [0, 8000])
        XCTAssertTrue(object["input_bands"] is NSNull, "per-bin input")
        XCTAssertEqual(result.stdout.split(separator: "\n").count, 1)
    }

    func testInfoOnModelShowsItsConfigurationAndParameterCount() throws {
        let url = try makeTemporaryDirectory().appendingPathComponent("m.safetensors")
        let model = try DenoiseModel(config: MaskNetConfig(kind: .cnn, bins: 33, hidden: 8, dilations: [1, 2]),
                                     stft: STFTConfig(nFFT: 64, hop: 32))
        try model.save(to: url)
        let result = try info(url)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("cnn: 2 blocks of 8 channels, kernel 5, dilations 1,2"), result.stdout)
        XCTAssertTrue(result.stdout.contains("parameters:    \(model.net.parameterCount)"), result.stdout)
        XCTAssertTrue(result.stdout.contains("n_fft 64, hop 32"), result.stdout)
        XCTAssertTrue(result.stdout.contains("band:          0-8000 Hz, masked by the network"), result.stdout)
        XCTAssertTrue(result.stdout.contains("latency:       16 ms"), result.stdout)  // 4 ms frame + 6 frames of 2 ms
        XCTAssertTrue(result.stdout.contains("the mask keeps at 4000-7200 Hz, blended in from 7200 Hz"), result.stdout)
    }

    /// A float16 file that had to keep a tensor in float32 (a value past float16's range) says so, in both forms.
    func testInfoOnAFloat16ModelWithAWideTensorCountsTheFloat32Tensors() throws {
        let url = try makeTemporaryDirectory().appendingPathComponent("m.safetensors")
        let model = try DenoiseModel(config: MaskNetConfig(kind: .cnn, bins: 33, hidden: 8, dilations: [1, 2]),
                                     stft: STFTConfig(nFFT: 64, hop: 32))
        model.net.store.values[0] = 1e5
        model.net.store.markValuesChanged()
        try model.save(to: url, precision: .float16)
        let tensors = try SafeTensors.read(url: url).tensors.count
        let result = try info(url)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(fields(result.stdout)["stored as"],
                       "float16, with 1 of \(tensors) tensors in float32 (past float16's range)", result.stdout)
        let json = try DenoiseRunner.run(["info", "--json", url.path])
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(object["stored_as"] as? [String], ["F32", "F16"])
    }
}
