import XCTest

/// Usage errors exit 64 with `error: <message>` and the usage line on stderr, before any work starts;
/// valid arguments of commands not built yet get past validation and fail at runtime with exit 1.
final class UsageErrorTests: XCTestCase {
    private let applyUsage = "usage: denoise apply [<options>] IN.wav OUT.wav"

    /// Runs and checks the usage-error contract; returns stderr's first line (the message).
    @discardableResult
    private func expectUsageError(_ arguments: [String], usage: String, mentioning words: [String] = [],
                                  file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let result = try DenoiseRunner.run(arguments, file: file, line: line)
        let call = "denoise " + arguments.joined(separator: " ")
        XCTAssertEqual(result.status, 64, "\(call): \(result.stderr)", file: file, line: line)
        XCTAssertEqual(result.stdout, "", call, file: file, line: line)
        let lines = result.stderrLines
        XCTAssertTrue(lines.first?.hasPrefix("error: ") == true, "\(call): \(result.stderr)", file: file, line: line)
        XCTAssertTrue(lines.contains(usage), "\(call): no '\(usage)' in\n\(result.stderr)", file: file, line: line)
        for word in words {
            XCTAssertTrue(lines.first?.contains(word) == true, "\(call): '\(word)' not in \(lines.first ?? "")",
                          file: file, line: line)
        }
        return lines.first ?? ""
    }

    func testUnknownCommandExits64WithTopLevelUsage() throws {
        try expectUsageError(["frobnicate"], usage: "usage: denoise <command> [<options>]",
                             mentioning: ["unknown command", "frobnicate"])
    }

    func testMisspelledCommandSuggestsTheClosestOne() throws {
        try expectUsageError(["aply", "a.wav", "b.wav"], usage: "usage: denoise <command> [<options>]",
                             mentioning: ["'apply'"])
    }

    func testUnknownOptionExits64WithTheCommandsUsage() throws {
        try expectUsageError(["apply", "--frobnicate", "a.wav", "b.wav"], usage: applyUsage,
                             mentioning: ["unknown option", "--frobnicate"])
        try expectUsageError(["apply", "-Z", "a.wav", "b.wav"], usage: applyUsage, mentioning: ["'-Z'"])
        try expectUsageError(["--frobnicate"], usage: "usage: denoise <command> [<options>]")
        try expectUsageError(["apply", "--outpt-dir", "d", "a.wav"], usage: applyUsage, mentioning: ["--output-dir"])
    }

    func testBadNumberExits64NamingTheOption() throws {
        try expectUsageError(["apply", "-j", "two", "-o", "out", "a.wav"], usage: applyUsage,
                             mentioning: ["'two'", "--jobs"])
        try expectUsageError(["apply", "--mix=half", "a.wav", "b.wav"], usage: applyUsage, mentioning: ["--mix"])
        try expectUsageError(["train", "--noisy", "n", "--clean", "c", "-o", "r", "--epochs", "1.5"],
                             usage: "usage: denoise train --noisy DIR --clean DIR -o RUN_DIR [<options>]",
                             mentioning: ["--epochs", "integer"])
        try expectUsageError(["train", "--noisy", "n", "--clean", "c", "-o", "r", "--lr", "nan"],
                             usage: "usage: denoise train --noisy DIR --clean DIR -o RUN_DIR [<options>]",
                             mentioning: ["--lr"])
    }

    func testBadArchitectureOptionsExit64NamingTheOption() throws {
        let usage = "usage: denoise train --noisy DIR --clean DIR -o RUN_DIR [<options>]"
        let base = ["train", "--noisy", "n", "--clean", "c", "-o", "r"]
        try expectUsageError(base + ["--dilations", "1,x"], usage: usage, mentioning: ["--dilations"])
        try expectUsageError(base + ["--dilations", "1,0"], usage: usage, mentioning: ["--dilations"])
        try expectUsageError(base + ["--kernel", "4"], usage: usage, mentioning: ["--kernel", "odd"])
        try expectUsageError(base + ["--width", "0"], usage: usage, mentioning: ["--width"])
        try expectUsageError(base + ["--arch", "mlp", "--dilations", "1,2"], usage: usage,
                             mentioning: ["--dilations", "cnn"])
        try expectUsageError(base + ["--arch", "mlp", "--residual"], usage: usage, mentioning: ["--residual", "cnn"])
    }

    /// Normalisations over time see later frames: a causal model refuses them, and an MLP's context is two-sided.
    func testCausalRefusesNormalisationsOverTimeAndTheMLP() throws {
        let usage = "usage: denoise train --noisy DIR --clean DIR -o RUN_DIR [<options>]"
        let base = ["train", "--noisy", "n", "--clean", "c", "-o", "r", "--causal"]
        for norm in ["group", "instance", "batch"] {
            try expectUsageError(base + ["--norm", norm], usage: usage, mentioning: ["--causal", norm, "not causal"])
        }
        try expectUsageError(base + ["--arch", "mlp"], usage: usage, mentioning: ["--causal", "cnn"])
    }

    /// The running normalisation is for the log-power input only: the hidden layers have no such choice.
    func testRunningIsAnInputNormOnly() throws {
        let usage = "usage: denoise train --noisy DIR --clean DIR -o RUN_DIR [<options>]"
        try expectUsageError(["train", "--noisy", "n", "--clean", "c", "-o", "r", "--norm", "running"], usage: usage,
                             mentioning: ["--norm", "running"])
    }

    /// Band input needs 8 bands at least and no more than the 257 bins; --init takes the bands from its model.
    func testInputBandsOutsideEightToTheBinsExit64() throws {
        let usage = "usage: denoise train --noisy DIR --clean DIR -o RUN_DIR [<options>]"
        let base = ["train", "--noisy", "n", "--clean", "c", "-o", "r"]
        for bands in ["3", "7", "258", "x"] {
            try expectUsageError(base + ["--input-bands", bands], usage: usage, mentioning: ["--input-bands"])
        }
        try expectUsageError(base + ["--input-bands", "16", "--init", "m.safetensors"], usage: usage,
                             mentioning: ["--input-bands", "--init"])
    }

    /// Training the speech head alone needs a trained network to read and a head weight to train it with.
    func testSpeechHeadOnlyWithoutInitOrWithoutTheHeadExit64() throws {
        let usage = "usage: denoise train --noisy DIR --clean DIR -o RUN_DIR [<options>]"
        let base = ["train", "--noisy", "n", "--clean", "c", "-o", "r", "--speech-head-only"]
        try expectUsageError(base, usage: usage, mentioning: ["--speech-head-only", "--init"])
        try expectUsageError(base + ["--init", "m.safetensors", "--vad-weight", "0"], usage: usage,
                             mentioning: ["--speech-head-only", "--vad-weight"])
    }

    /// Growing a network needs one to grow, dilations in range, and training for the new blocks.
    func testAddBlocksWithoutInitOrWithBadDilationsExit64() throws {
        let usage = "usage: denoise train --noisy DIR --clean DIR -o RUN_DIR [<options>]"
        let base = ["train", "--noisy", "n", "--clean", "c", "-o", "r", "--add-blocks"]
        try expectUsageError(base + ["1"], usage: usage, mentioning: ["--add-blocks", "--init"])
        for bad in ["0", "x", "1,257"] {
            try expectUsageError(base + [bad, "--init", "m.safetensors"], usage: usage, mentioning: ["--add-blocks"])
        }
        try expectUsageError(base + ["1", "--init", "m.safetensors", "--speech-head-only"], usage: usage,
                             mentioning: ["--add-blocks", "--speech-head-only"])
    }

    /// The floor's band count is 0 or in 8...257, and its window in 0.2...10 s with the floor only; a checkpoint fixes
    /// the architecture, and a head-only run trains no new input.
    func testFloorBandsOutOfRangeOrWithResumeExit64() throws {
        let usage = "usage: denoise train --noisy DIR --clean DIR -o RUN_DIR [<options>]"
        let base = ["train", "--noisy", "n", "--clean", "c", "-o", "r", "--floor-bands"]
        for bad in ["7", "258", "x", "-1"] {
            try expectUsageError(base + [bad], usage: usage, mentioning: ["--floor-bands"])
        }
        try expectUsageError(base + ["8", "--resume"], usage: usage, mentioning: ["--floor-bands", "--resume"])
        try expectUsageError(base + ["8", "--init", "m.safetensors", "--speech-head-only"], usage: usage,
                             mentioning: ["--floor-bands", "--speech-head-only"])
        for bad in ["0.1", "11", "x"] {
            try expectUsageError(base + ["8", "--floor-window", bad], usage: usage, mentioning: ["--floor-window"])
        }
        try expectUsageError(["train", "--noisy", "n", "--clean", "c", "-o", "r", "--floor-window", "3"], usage: usage,
                             mentioning: ["--floor-window", "--floor-bands"])
    }

    /// The teacher's weight needs a teacher, and is a positive number; a head-only run has no mask to teach.
    func testTeacherWeightWithoutTeacherOrBadWeightExit64() throws {
        let usage = "usage: denoise train --noisy DIR --clean DIR -o RUN_DIR [<options>]"
        let base = ["train", "--noisy", "n", "--clean", "c", "-o", "r"]
        try expectUsageError(base + ["--teacher-weight", "2"], usage: usage,
                             mentioning: ["--teacher-weight", "--teacher"])
        for bad in ["0", "-1", "x"] {
            try expectUsageError(base + ["--teacher", "t.safetensors", "--teacher-weight", bad], usage: usage,
                                 mentioning: ["--teacher-weight"])
        }
        try expectUsageError(base + ["--teacher", "t.safetensors", "--init", "m.safetensors", "--speech-head-only"],
                             usage: usage, mentioning: ["--teacher", "--speech-head-only"])
    }

    func testMissingValueAndUnexpectedArgumentExit64() throws {
        try expectUsageError(["apply", "a.wav", "b.wav", "-m"], usage: applyUsage,
                             mentioning: ["missing value", "--model"])
        try expectUsageError(["info", "a.wav", "b.wav"], usage: "usage: denoise info [--json] FILE.wav",
                             mentioning: ["unexpected argument", "b.wav"])
        try expectUsageError(["info"], usage: "usage: denoise info [--json] FILE.wav", mentioning: ["missing argument"])
        try expectUsageError(["apply", "--force=yes", "a.wav", "b.wav"], usage: applyUsage,
                             mentioning: ["--force", "does not take a value"])
    }

    func testApplyNeedsInputAndOutputOrAnOutputFolder() throws {
        try expectUsageError(["apply"], usage: applyUsage, mentioning: ["missing"])
        try expectUsageError(["apply", "a.wav"], usage: applyUsage, mentioning: ["OUT.wav"])
        try expectUsageError(["apply", "a.wav", "b.wav", "c.wav"], usage: applyUsage, mentioning: ["-o OUT_DIR"])
        try expectUsageError(["apply", "-o", "out"], usage: applyUsage, mentioning: ["missing input"])
        try expectUsageError(["apply", "a.wav", "./a.wav"], usage: applyUsage, mentioning: ["input"])
        try expectUsageError(["apply", "--suffix", "_clean", "a.wav", "b.wav"], usage: applyUsage,
                             mentioning: ["--suffix", "-o"])
    }

    func testApplyRejectsOutOfRangeValues() throws {
        try expectUsageError(["apply", "--atten-limit", "-3", "a.wav", "b.wav"], usage: applyUsage,
                             mentioning: ["'-3'", "--atten-limit"])
        try expectUsageError(["apply", "--mix", "1.5", "a.wav", "b.wav"], usage: applyUsage,
                             mentioning: ["'1.5'", "--mix"])
        try expectUsageError(["apply", "--mix", "-0.1", "a.wav", "b.wav"], usage: applyUsage, mentioning: ["--mix"])
        try expectUsageError(["apply", "--mask-exponent", "0", "a.wav", "b.wav"], usage: applyUsage,
                             mentioning: ["'0'", "--mask-exponent"])
        try expectUsageError(["apply", "-j", "0", "-o", "out", "a.wav"], usage: applyUsage,
                             mentioning: ["'0'", "--jobs"])
    }

    func testTrainChecksItsDataAndSettings() throws {
        let usage = "usage: denoise train --noisy DIR --clean DIR -o RUN_DIR [<options>]"
        let base = ["train", "--noisy", "n", "--clean", "c", "-o", "run"]
        try expectUsageError(["train", "--noisy", "n", "-o", "run"], usage: usage, mentioning: ["--clean"])
        try expectUsageError(["train", "--clean", "c", "-o", "run"], usage: usage, mentioning: ["--noisy"])
        try expectUsageError(["train", "--clean", "c", "-o", "run", "--remix-only"], usage: usage,
                             mentioning: ["--noise"])
        // The pairs come from folders or from a manifest: one of the two, never both, never neither.
        try expectUsageError(["train", "-o", "run"], usage: usage, mentioning: ["--noisy", "--pairs"])
        try expectUsageError(["train", "--pairs", "p.csv", "--noisy", "n", "-o", "run"], usage: usage,
                             mentioning: ["--pairs", "--noisy"])
        try expectUsageError(["train", "--pairs", "p.csv", "--clean", "c", "-o", "run"], usage: usage,
                             mentioning: ["--pairs", "--clean"])
        try expectUsageError(["train", "--pairs", "p.csv", "--noise", "x", "--remix-only", "-o", "run"], usage: usage,
                             mentioning: ["--remix-only", "--pairs"])
        try expectUsageError(base + ["--val-noisy", "vn"], usage: usage, mentioning: ["--val-clean"])
        try expectUsageError(base + ["--val-split", "0.2", "--val-noisy", "vn", "--val-clean", "vc"], usage: usage,
                             mentioning: ["--val-split"])
        try expectUsageError(base + ["--val-split", "1"], usage: usage, mentioning: ["--val-split"])
        try expectUsageError(base + ["--val-seed", "2", "--val-noisy", "vn", "--val-clean", "vc"], usage: usage,
                             mentioning: ["--val-seed"])
        try expectUsageError(base + ["--val-seed", "-1"], usage: usage, mentioning: ["--val-seed"])
        try expectUsageError(base + ["--val-speakers", "a", "--val-split", "0.2"], usage: usage,
                             mentioning: ["--val-split", "--val-speakers"])
        try expectUsageError(base + ["--val-speakers", "a", "--val-noisy", "vn", "--val-clean", "vc"], usage: usage,
                             mentioning: ["--val-speakers"])
        try expectUsageError(base + ["--val-snrs", "0,5"], usage: usage, mentioning: ["--val-snrs", "--val-noise"])
        try expectUsageError(base + ["--val-speakers", "a", "--val-seed", "2"], usage: usage,
                             mentioning: ["--val-seed", "--val-noise"])
        try expectUsageError(base + ["--val-noise", "vn", "--val-snrs", "0,x"], usage: usage,
                             mentioning: ["--val-snrs"])
        let shares = ["reverb", "narrowband", "mulaw", "low-snr", "speed", "second-noise", "noise-eq", "level",
                      "clipping", "lead-silence", "pause-silence"]
        for share in shares {
            try expectUsageError(base + ["--\(share)", "1.5"], usage: usage, mentioning: ["--\(share)"])
        }
        try expectUsageError(base + ["--noise-sources", "1"], usage: usage, mentioning: ["--noise-sources"])
        try expectUsageError(base + ["--snr-range", "20,-5"], usage: usage, mentioning: ["--snr-range"])
        try expectUsageError(base + ["--arch", "rnn"], usage: usage, mentioning: ["'rnn'", "mlp, cnn"])
        try expectUsageError(base + ["--context", "3"], usage: usage, mentioning: ["--context", "mlp"])
        try expectUsageError(base + ["--dropout", "1"], usage: usage, mentioning: ["--dropout"])
        try expectUsageError(base + ["--average", "1"], usage: usage, mentioning: ["--average"])
        try expectUsageError(base + ["--batch-size", "0"], usage: usage, mentioning: ["--batch-size"])
        try expectUsageError(base + ["--schedule", "step:ten:0.5"], usage: usage, mentioning: ["--schedule"])
        try expectUsageError(base + ["--schedule", "multistep:60,30:0.1"], usage: usage, mentioning: ["increasing"])
        try expectUsageError(base + ["--optimizer", "lion"], usage: usage, mentioning: ["'lion'"])
    }

    func testEvalNeedsCleanAndEnhanced() throws {
        let usage = "usage: denoise eval --clean DIR --enhanced DIR [--noisy DIR] [--csv FILE]"
        try expectUsageError(["eval", "--clean", "c"], usage: usage, mentioning: ["--enhanced"])
        try expectUsageError(["eval", "--enhanced", "e"], usage: usage, mentioning: ["--clean"])
    }

    func testInfoHistoryIsForModelFiles() throws {
        try expectUsageError(["info", "--history", "talk.wav"], usage: "usage: denoise info [--json] FILE.wav",
                             mentioning: ["--history", "model"])
    }

    /// Valid arguments pass validation, so what remains is one runtime error about the missing files.
    func testValidArgumentsReachTheRuntimeChecks() throws {
        let calls: [[String]] = [
            ["apply", "a.wav", "b.wav"],
            ["apply", "-m", "model.safetensors", "--atten-limit", "20", "--mix=0.8", "--per-channel", "a.wav", "b.wav"],
            ["apply", "-vj2", "--suffix", "_clean", "--force", "-o", "out", "a.wav", "dir"],
            ["apply", "-o", "out", "--", "-odd-name.wav"],
            ["train", "--noisy", "n", "--clean", "c", "-o", "run", "--snr-range", "-5,20", "--arch", "mlp",
             "--context", "3", "--schedule", "multistep:30,60:0.1", "--optimizer=sgd", "--early-stop", "5",
             "--noise", "a", "--noise", "b,c", "--clip-grad", "1", "--l1", "1e-5", "--quiet"],
            ["train", "--clean", "c", "--noise", "noise", "--remix-only", "-o", "run", "--val-noisy", "vn",
             "--val-clean", "vc", "--schedule", "cosine:5"],
            ["eval", "--clean", "c", "--enhanced", "e", "--noisy", "n", "--csv", "scores.csv"],
        ]
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("denoise-no-such-\(getpid())")
        for arguments in calls {
            let result = try DenoiseRunner.run(arguments, currentDirectory: missing.deletingLastPathComponent())
            XCTAssertEqual(result.status, 1, "denoise \(arguments): \(result.stderr)")
            let errors = result.stderrLines.filter { $0.hasPrefix("error: ") }
            XCTAssertEqual(errors.count, 1, "denoise \(arguments): \(result.stderr)")
            XCTAssertFalse(result.stderr.contains("not implemented"))
        }
    }
}
