import XCTest
@testable import DenoiseKit

/// Shards, complete outputs and report lines of batch jobs.
final class BatchJobTests: XCTestCase {
    func testFNV1a64MatchesItsPublishedTestVectors() {
        XCTAssertEqual(Shard.fnv1a64(""), 0xcbf2_9ce4_8422_2325)
        XCTAssertEqual(Shard.fnv1a64("a"), 0xaf63_dc4c_8601_ec8c)
        XCTAssertEqual(Shard.fnv1a64("foobar"), 0x8594_4171_f739_67e8)
    }

    func testShardsCoverEveryKeyExactlyOnce() throws {
        let keys = (0..<500).map { "speaker\($0 % 17)/utterance-\($0).wav" }
        for count in [1, 2, 3, 7] {
            let shards = try (1...count).map { try XCTUnwrap(Shard(index: $0, count: count)) }
            for key in keys {
                XCTAssertEqual(shards.filter { $0.contains(key: key) }.count, 1, "\(key) in \(count) shards")
            }
            // Every share gets a fair part of 500 keys (a hash that ignored its input would not).
            for shard in shards {
                XCTAssertGreaterThan(keys.filter { shard.contains(key: $0) }.count, 500 / count / 2, "\(shard)")
            }
        }
    }

    func testShardParsesKOverNWithKFromOneToN() {
        XCTAssertEqual(Shard(parsing: "2/8"), Shard(index: 2, count: 8))
        XCTAssertEqual(Shard(parsing: "1/1")?.description, "1/1")
        for bad in ["0/3", "4/3", "3", "1/0", "-1/3", "a/b", "1/3/5", "", "/3", " 1/3"] {
            XCTAssertNil(Shard(parsing: bad), bad)
        }
    }

    func testReportLinesAreJSONWithTheDocumentedFields() throws {
        let item = BatchFile(input: URL(fileURLWithPath: "in/a \"quoted\".wav"),
                             output: URL(fileURLWithPath: "out/a.wav"), key: "a.wav")
        let format = WAVFormat(sampleFormat: .muLaw, channelCount: 1, sampleRate: 8000)
        let done = FileReport(input: item.input, output: item.output, duration: 2.5, seconds: 0.125, clippedSamples: 3,
                              inputFormat: format, outputFormat: WAVFormat(sampleFormat: .pcm16, channelCount: 1,
                                                                            sampleRate: 8000),
                              warnings: [.dataCutShort(path: "a.wav", claimed: 10, available: 4)])
        let outcomes: [BatchOutcome] = [.done(done), .skipped, .failed(EnhanceError.outputExists("out/a.wav"))]
        let objects = try outcomes.map { outcome -> [String: Any] in
            let line = BatchReport.line(outcome, for: item)
            XCTAssertFalse(line.contains("\n"))
            return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], line)
        }
        let fields = ["input", "output", "status", "error", "duration_s", "seconds", "clipped", "truncated"]
        for object in objects { XCTAssertTrue(Set(object.keys).isSuperset(of: fields), "\(object.keys)") }
        XCTAssertEqual(objects.map { $0["status"] as? String }, ["done", "skipped", "failed"])
        XCTAssertEqual(objects[0]["input"] as? String, item.input.relativePath)
        XCTAssertEqual(objects[0]["duration_s"] as? Double, 2.5)
        XCTAssertEqual(objects[0]["clipped"] as? Int, 3)
        XCTAssertEqual(objects[0]["truncated"] as? Bool, true)
        XCTAssertEqual(objects[0]["output_format"] as? String, "16-bit PCM")
        XCTAssertTrue(objects[0]["error"] is NSNull)
        XCTAssertEqual(objects[2]["error"] as? String, "out/a.wav: already exists (use --force to replace it)")
    }

    func testJSONStringsEscapeQuotesBackslashesAndControlCharacters() throws {
        let text = "a\"b\\c\nd\u{1}é"
        let decoded = try JSONSerialization.jsonObject(with: Data("[\(BatchReport.string(text))]".utf8)) as? [String]
        XCTAssertEqual(decoded, [text])
    }
}
