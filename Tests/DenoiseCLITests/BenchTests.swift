@testable import DenoiseKit
@testable import denoise
import Foundation
import XCTest

/// `denoise bench --json`: one JSON object whose figures name the BLAS kernels they ran on.
final class BenchTests: XCTestCase {
    /// The inference rows only (a few seconds): `blas_kernels` is the kernels this process's OpenBLAS runs (the
    /// child has the same environment and CPU), and every other value is a positive number.
    func testJSONNamesTheBLASKernelsBesideTheFigures() throws {
        let result = try DenoiseRunner.run(["bench", "--json", "--quick"],
                                           environment: ["DENOISE_BENCH_ONLY": "inference"],
                                           timeout: 300)
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(object["blas_kernels"] as? String, BLAS.kernels)
        XCTAssertFalse(BLAS.kernels.isEmpty)
        XCTAssertNotNil(object["rtf_default_model_1t"])
        for (key, value) in object where key != "blas_kernels" {
            XCTAssertGreaterThan(try XCTUnwrap(value as? Double, key), 0, key)
        }
    }

    /// Without the source tree, bench times networks of the bundled models' shapes. Those shapes are written in
    /// BenchCommand.swift, so they must follow the bundled files (dropout aside: inference does not run it).
    func testStandInNetworksHaveTheBundledModelsShapes() throws {
        for (fileName, causal) in [(ModelLocator.defaultFileName, false), (ModelLocator.realTimeFileName, true)] {
            let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("samples").appendingPathComponent(fileName)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw XCTSkip("no bundled model at \(url.path)")
            }
            var bundled = try DenoiseModel.load(url: url).net.config
            let standIn = Bench.standInConfig(causal: causal)
            bundled.dropout = standIn.dropout
            XCTAssertEqual(bundled, standIn, fileName)
        }
    }
}
