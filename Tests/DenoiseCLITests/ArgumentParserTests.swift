import XCTest
@testable import denoise

/// The parser and helpers of the executable, tested directly (the executable module is testable).
final class ArgumentParserTests: XCTestCase {
    private let signature = ArgumentSignature(
        options: [
            .option("output-dir", short: "o", value: "DIR", kind: .path, help: "Output."),
            .option("jobs", short: "j", value: "N", kind: .int, help: "Jobs.", default: "3"),
            .option("mix", value: "W", kind: .float, help: "Mix."),
            .option("snr-range", value: "LO,HI", kind: .list, help: "SNRs.", default: "-5,20"),
            .option("arch", value: "mlp|cnn", kind: .choice(["mlp", "cnn"]), help: "Arch."),
            .option("clean", value: "DIR", kind: .path, help: "Clean."),
            .flag("verbose", short: "v", help: "Verbose."),
            .flag("force", short: "f", help: "Force."),
            ArgumentSignature.helpOption,
        ],
        positionals: [
            Positional("inputs", value: "IN", help: "Inputs.", repeated: true, required: false),
            Positional("last", value: "OUT", help: "Output.", required: false),
        ])

    private func parse(_ arguments: [String], _ signature: ArgumentSignature? = nil) throws -> ParsedArguments {
        switch try ArgumentParser(signature ?? self.signature).parse(arguments) {
        case .help: throw UsageError("unexpected help")
        case .arguments(let parsed): return parsed
        }
    }

    private func usageError(_ arguments: [String], _ signature: ArgumentSignature? = nil) -> String? {
        do {
            _ = try parse(arguments, signature)
            return nil
        } catch let error as UsageError {
            return error.message
        } catch {
            return "not a UsageError: \(error)"
        }
    }

    func testLongOptionTakesTheNextArgumentOrAnInlineValue() throws {
        XCTAssertEqual(try parse(["--mix", "0.5"]).double("mix"), 0.5)
        XCTAssertEqual(try parse(["--mix=0.25"]).double("mix"), 0.25)
        XCTAssertEqual(try parse(["--output-dir=a=b"]).string("output-dir"), "a=b")
    }

    func testValuedOptionTakesADashPrefixedValue() throws {
        XCTAssertEqual(try parse(["--snr-range", "-5,20"]).list("snr-range"), ["-5", "20"])
        XCTAssertEqual(try parse(["--mix", "-1"]).double("mix"), -1)
    }

    func testShortOptionsGroupFlagsAndTakeAttachedOrFollowingValues() throws {
        let grouped = try parse(["-vfj2"])
        XCTAssertTrue(grouped.flag("verbose"))
        XCTAssertTrue(grouped.flag("force"))
        XCTAssertEqual(grouped.int("jobs"), 2)
        XCTAssertEqual(try parse(["-j", "4"]).int("jobs"), 4)
        XCTAssertEqual(try parse(["-o=out"]).string("output-dir"), "out")
        XCTAssertEqual(try parse(["-vo", "out"]).string("output-dir"), "out")
    }

    func testDoubleDashMakesEverythingAfterItPositional() throws {
        let parsed = try parse(["-v", "--", "-f", "--mix", "x"])
        XCTAssertFalse(parsed.flag("force"))
        XCTAssertEqual(parsed.positionals("inputs"), ["-f", "--mix"])
        XCTAssertEqual(parsed.positional("last"), "x")
        XCTAssertEqual(try parse(["-"]).positionals("inputs"), [])
        XCTAssertEqual(try parse(["-"]).positional("last"), "-")
    }

    func testRepeatedPositionalTakesWhatTheFollowingOnesLeave() throws {
        let parsed = try parse(["a", "-v", "b", "c"])
        XCTAssertEqual(parsed.positionals("inputs"), ["a", "b"])
        XCTAssertEqual(parsed.positional("last"), "c")
        XCTAssertEqual(try parse([]).positionals("inputs"), [])
        XCTAssertNil(try parse([]).positional("last"))
    }

    func testDefaultsApplyOnlyWhenAbsentAndDoNotCountAsGiven() throws {
        let parsed = try parse([])
        XCTAssertEqual(parsed.int("jobs"), 3)
        XCTAssertFalse(parsed.has("jobs"))
        XCTAssertNil(parsed.double("mix"))
        XCTAssertEqual(parsed.list("snr-range"), ["-5", "20"])
        XCTAssertFalse(parsed.flag("verbose"))
        XCTAssertTrue(try parse(["-j", "3"]).has("jobs"))
    }

    func testLastValueWinsAndListsCollectEveryOccurrence() throws {
        let parsed = try parse(["-j", "2", "--jobs", "5", "--snr-range", "0", "--snr-range", "5,10"])
        XCTAssertEqual(parsed.int("jobs"), 5)
        XCTAssertEqual(parsed.list("snr-range"), ["0", "5", "10"])
    }

    func testPathExpandsTildeAndResolvesRelativePaths() throws {
        let parsed = try parse(["-o", "~/x"])
        XCTAssertEqual(parsed.path("output-dir")?.path, NSString(string: "~/x").expandingTildeInPath)
        let relative = try parse(["-o", "out"]).path("output-dir")
        XCTAssertEqual(relative?.path, FileManager.default.currentDirectoryPath + "/out")
    }

    func testHelpWinsOverMissingAndInvalidArguments() throws {
        let required = ArgumentSignature(
            options: [.option("clean", value: "DIR", help: "Clean.", required: true), ArgumentSignature.helpOption],
            positionals: [])
        for arguments in [["--help"], ["-h"], ["--clean"] + ["--help"], ["-vh"]] {
            let result = try ArgumentParser(arguments == ["-vh"] ? signature : required).parse(arguments)
            guard case .help = result else { return XCTFail("\(arguments) did not ask for help") }
        }
    }

    func testErrorsNameTheProblemAndTheOption() {
        XCTAssertEqual(usageError(["--bogus"]), "unknown option '--bogus'")
        XCTAssertEqual(usageError(["--output-dri", "x"]),
                       "unknown option '--output-dri' (did you mean '--output-dir'?)")
        XCTAssertEqual(usageError(["-x"]), "unknown option '-x'")
        XCTAssertEqual(usageError(["-o"]), "missing value for -o/--output-dir <DIR>")
        XCTAssertEqual(usageError(["--jobs", "two"]), "invalid value 'two' for -j/--jobs: expected an integer")
        XCTAssertEqual(usageError(["--jobs", "2.5"]), "invalid value '2.5' for -j/--jobs: expected an integer")
        XCTAssertEqual(usageError(["--mix", "inf"]), "invalid value 'inf' for --mix: expected a number")
        XCTAssertEqual(usageError(["--mix", "nan"]), "invalid value 'nan' for --mix: expected a number")
        XCTAssertEqual(usageError(["--arch", "rnn"]), "invalid value 'rnn' for --arch: expected one of mlp, cnn")
        XCTAssertEqual(usageError(["--snr-range", "1,,2"]), "invalid value '1,,2' for --snr-range: empty list item")
        XCTAssertEqual(usageError(["--verbose=yes"]), "-v/--verbose does not take a value")
        XCTAssertEqual(usageError(["--clean", ""]), "empty path for --clean")

        let strict = ArgumentSignature(
            options: [.option("clean", value: "DIR", help: "Clean.", required: true)],
            positionals: [Positional("file", value: "FILE", help: "File.")])
        XCTAssertEqual(usageError(["a"], strict), "missing required option --clean <DIR>")
        XCTAssertEqual(usageError(["--clean", "c"], strict), "missing argument <FILE>")
        XCTAssertEqual(usageError(["--clean", "c", "a", "b"], strict), "unexpected argument 'b'")
    }

    func testEditDistanceCountsInsertionsDeletionsAndSubstitutions() {
        XCTAssertEqual(editDistance("kitten", "sitting"), 3)
        XCTAssertEqual(editDistance("", "abc"), 3)
        XCTAssertEqual(editDistance("apply", "apply"), 0)
        XCTAssertEqual(closestMatch(to: "aply", in: ["train", "apply", "eval"]), "apply")
        XCTAssertNil(closestMatch(to: "zzzzzz", in: ["train", "apply", "eval"]))
    }

    func testFormatsTimesLevelsAndSizes() {
        XCTAssertEqual(Format.timestamp(seconds: 1.5), "0:00:01.500")
        XCTAssertEqual(Format.timestamp(seconds: 3661.0004), "1:01:01.000")
        XCTAssertEqual(Format.timestamp(seconds: 59.9996), "0:01:00.000")
        XCTAssertEqual(Format.clock(seconds: 83), "1:23")
        XCTAssertEqual(Format.clock(seconds: 3723), "1:02:03")
        XCTAssertEqual(Format.decibels(-.infinity), "-inf")
        XCTAssertEqual(Format.decibels(20 * log10(0.5)), "-6.02")
        XCTAssertEqual(Format.rate(12.345), "12.3")
        XCTAssertEqual(Format.rate(16_700.4), "16700")
        XCTAssertEqual(Format.bytes(512), "512 B")
        XCTAssertEqual(Format.bytes(1536), "1.5 KiB")
        XCTAssertEqual(Format.bytes(3 * 1024 * 1024), "3.0 MiB")
    }

    func testWrapKeepsLinesWithinWidthAndDefaultsTogether() {
        let text = "one two three four five six seven eight nine ten (default:\u{00A0}value)"
        let wrapped = HelpFormatter.wrap(text, width: 16)
        for line in wrapped.split(separator: "\n") { XCTAssertLessThanOrEqual(line.count, 16, String(line)) }
        XCTAssertTrue(wrapped.contains("(default: value)"), wrapped)
        XCTAssertEqual(wrapped.replacingOccurrences(of: "\n", with: " "),
                       text.replacingOccurrences(of: "\u{00A0}", with: " "))
    }
}
