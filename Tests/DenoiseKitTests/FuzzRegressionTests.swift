import Foundation
import XCTest
@testable import DenoiseKit

/// Inputs that crashed the parsers run by `.ci/fuzz` (the `denoise-fuzz` harness). Each must now be rejected
/// with a thrown error, as any bad file should be: a trap here would take the whole test run down.
final class FuzzRegressionTests: XCTestCase {
    /// What the harness does with a model input: decode, then build the model.
    private func loadModel(_ data: Data) throws -> DenoiseModel {
        try DenoiseModel(safeTensors: SafeTensors.decode(data, path: "fuzz.safetensors"), path: "fuzz.safetensors")
    }

    /// Two dimensions just under the 2^31 limit each: the element count (2^62 − 2^32 + 1) does not overflow,
    /// but its size in bytes did (`count * 4`), trapping instead of throwing.
    func testSafeTensorsShapeWhoseByteSizeOverflowsIsRejected() {
        let header = #"{"x":{"data_offsets":[0,4],"dtype":"F32","shape":[2147483647,2147483647]}}"#
        let data = TestSignals.safeTensorsFile(header: header, data: [0, 0, 0, 0])
        XCTAssertThrowsError(try loadModel(data)) { error in
            guard case .malformed(let path, let reason)? = error as? ModelFileError else {
                return XCTFail("expected ModelFileError.malformed, got \(error)")
            }
            XCTAssertEqual(path, "fuzz.safetensors")
            XCTAssertTrue(reason.contains("data_offsets"), reason)
        }
    }

    /// The same check must still accept a tensor whose bytes match its shape, and reject a byte range that is
    /// not a whole number of floats.
    func testSafeTensorsByteRangeMustHoldExactlyTheShapesFloats() throws {
        let good = TestSignals.safeTensorsFile(header: #"{"x":{"data_offsets":[0,8],"dtype":"F32","shape":[2]}}"#,
                                   data: [0, 0, 0x80, 0x3F, 0, 0, 0, 0xC0])
        XCTAssertEqual(try SafeTensors.decode(good, path: "g").tensors["x"]?.values, [1, -2])
        let ragged = TestSignals.safeTensorsFile(header: #"{"x":{"data_offsets":[0,7],"dtype":"F32","shape":[2]}}"#,
                                     data: [0, 0, 0x80, 0x3F, 0, 0, 0, 0xC0])
        XCTAssertThrowsError(try SafeTensors.decode(ragged, path: "r"))
    }

    /// Found by review while writing the harness, not yet by libFuzzer: the MaskNet config in a model file's
    /// metadata is trusted for sizes, so `hidden` = 4·10^18 traps on overflow in ParameterStore.add (and
    /// `hidden` = 10^8 asks for a 40 GB allocation, `hiddenLayers` = 10^8 runs for minutes) before any tensor is
    /// compared with the config: the config is now bounded by the values the file really holds.
    func testModelConfigWithOverflowingHiddenWidthIsRejected() throws {
        let masknet = #"{\"bins\":33,\"context\":1,\"dilations\":[1],\"dropout\":0,\"groups\":1,"#
            + #"\"hidden\":4000000000000000000,\"hiddenLayers\":1,\"kernelSize\":1,\"kind\":\"mlp\","#
            + #"\"norm\":\"layer\",\"inputNorm\":\"layer\"}"#
        let header = #"{"__metadata__":{"format":"denoise-model-1","masknet":""# + masknet
            + #"","sample_rate":"16000","stft":"{\"hop\":32,\"nFFT\":64,\"window\":\"sqrtHann\"}"}}"#
        XCTAssertThrowsError(try loadModel(TestSignals.safeTensorsFile(header: header))) { error in
            XCTAssertTrue("\(error)".contains("parameters"), "\(error)")
        }
        for huge in ["\"hidden\":100000000,\"hiddenLayers\":1", "\"hidden\":8,\"hiddenLayers\":100000000"] {
            let big = header.replacingOccurrences(of: "\\\"hidden\\\":4000000000000000000,\\\"hiddenLayers\\\":1",
                                                  with: huge.replacingOccurrences(of: "\"", with: "\\\""))
            XCTAssertNotEqual(big, header)
            XCTAssertThrowsError(try loadModel(TestSignals.safeTensorsFile(header: big)))
        }
    }
}
