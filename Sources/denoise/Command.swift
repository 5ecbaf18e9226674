import DenoiseKit
import Foundation

/// Exit statuses of `denoise` (64 is EX_USAGE from sysexits.h; 130 is 128 + SIGINT, as shells report it).
enum ExitStatus {
    static let success: Int32 = 0
    static let failure: Int32 = 1
    static let usage: Int32 = 64
    static let interrupted: Int32 = 130
}

/// A failure while running a command: printed as one line `error: <message>`, exit status 1.
/// The message names the file and the problem.
struct CommandError: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }

    static func notImplemented(_ command: String) -> CommandError {
        CommandError("denoise \(command) is not implemented yet")
    }
}

/// A subcommand of `denoise`. It owns its options, abstract and usage; `denoise <name> --help` is generated
/// from them.
protocol Command: Sendable {
    var name: String { get }
    /// One line, shown in the overview.
    var abstract: String { get }
    /// Usage lines without the leading `denoise `, e.g. `apply [<options>] IN.wav OUT.wav`.
    var usage: [String] { get }
    var options: [Option] { get }
    var positionals: [Positional] { get }
    /// Paragraphs printed after the options in `--help`; empty for none.
    var discussion: String { get }
    /// Runs with validated arguments and returns the exit status. Throws `UsageError` for bad combinations
    /// of arguments (exit 64) and anything else for runtime failures (exit 1).
    func run(_ arguments: ParsedArguments) throws -> Int32
}

extension Command {
    var positionals: [Positional] { [] }
    var discussion: String { "" }

    var signature: ArgumentSignature {
        ArgumentSignature(options: options + [ArgumentSignature.helpOption], positionals: positionals)
    }

    /// `usage: denoise apply ...`, one line per form, for error messages.
    var usageText: String {
        usage.enumerated().map { ($0.offset == 0 ? "usage: " : "       ") + "denoise " + $0.element }
            .joined(separator: "\n")
    }

    var helpText: String {
        var text = HelpFormatter.paragraph("OVERVIEW: \(abstract)", indent: 10) + "\n\n"
        text += usage.enumerated().map { ($0.offset == 0 ? "USAGE: " : "       ") + "denoise " + $0.element }
            .joined(separator: "\n") + "\n"
        let arguments = positionals.map { ($0.valueName + ($0.isRepeated ? " ..." : ""), $0.help) }
        let options = signature.options.map { (HelpFormatter.label(for: $0), HelpFormatter.text(for: $0)) }
        // One text column for both tables.
        let column = HelpFormatter.column(for: arguments + options)
        if !arguments.isEmpty { text += "\nARGUMENTS:\n" + HelpFormatter.table(arguments, column: column) }
        text += "\nOPTIONS:\n" + HelpFormatter.table(options, column: column)
        if !discussion.isEmpty { text += "\n" + HelpFormatter.wrap(discussion, width: HelpFormatter.width) + "\n" }
        return text
    }
}

/// Lays out help as two aligned columns, wrapped to 80 columns; output does not depend on the terminal,
/// so `--help` snapshots are stable.
enum HelpFormatter {
    static let width = 80
    /// Labels longer than this put their text on the next line.
    static let maxLabelWidth = 28

    static func label(for option: Option) -> String {
        var label = option.short.map { "-\($0), " } ?? "    "
        label += "--\(option.name)"
        if let value = option.valueName { label += " <\(value)>" }
        return label
    }

    static func text(for option: Option) -> String {
        var text = option.help
        if option.isRequired { text += " (required)" }
        if let value = option.defaultValue, !value.isEmpty { text += " (default:\(nonBreakingSpace)\(value))" }
        return text
    }

    /// Joins words that must stay on one line, like `(default: 0.1)`; `wrap` turns it back into a space.
    static let nonBreakingSpace: Character = "\u{00A0}"

    /// Where the text column starts: after the longest label (up to `maxLabelWidth`), two spaces either side.
    static func column(for rows: [(String, String)]) -> Int {
        min(maxLabelWidth, rows.map(\.0.count).max() ?? 0) + 4
    }

    /// A paragraph wrapped to `width`, continuation lines indented by `indent` spaces.
    static func paragraph(_ text: String, indent: Int) -> String {
        let margin = String(repeating: " ", count: indent)
        return wrap(text, width: width - indent).replacingOccurrences(of: "\n", with: "\n" + margin)
    }

    /// Rows as `  label  text`, text wrapped in its column.
    static func table(_ rows: [(String, String)], column: Int? = nil) -> String {
        let column = column ?? self.column(for: rows)
        var out = ""
        for (label, text) in rows {
            let lines = wrap(text, width: width - column).split(separator: "\n", omittingEmptySubsequences: false)
            var first = "  " + label
            if first.count + 2 > column {
                out += first + "\n"
                first = ""
            }
            for (index, line) in lines.enumerated() {
                let lead = index == 0 ? first : ""
                out += lead.padding(toLength: column, withPad: " ", startingAt: 0) + line + "\n"
            }
        }
        return out
    }

    /// Greedy word wrap; words longer than the width stay whole.
    static func wrap(_ text: String, width: Int) -> String {
        var lines: [String] = []
        for paragraph in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = ""
            for word in paragraph.split(separator: " ") {
                if !line.isEmpty && line.count + 1 + word.count > width {
                    lines.append(line)
                    line = ""
                }
                line += (line.isEmpty ? "" : " ") + word
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n").replacingOccurrences(of: String(nonBreakingSpace), with: " ")
    }
}

/// Range checks shared by the commands; a value out of range is a usage error naming the option.
extension ParsedArguments {
    /// The option's number, or nil when neither given nor defaulted; throws unless `isValid`.
    func double(_ name: String, expected: String, where isValid: (Double) -> Bool) throws -> Double? {
        guard let value = double(name) else { return nil }
        if !isValid(value) { throw invalidValue(name, expected: expected) }
        return value
    }

    func int(_ name: String, expected: String, where isValid: (Int) -> Bool) throws -> Int? {
        guard let value = int(name) else { return nil }
        if !isValid(value) { throw invalidValue(name, expected: expected) }
        return value
    }

    /// `--mask-exponent` (apply and train), checked against the range a model file may carry; nil when absent.
    func maskExponent() throws -> Double? {
        try double("mask-exponent", expected: DenoiseModel.maskExponentsDescription) {
            DenoiseModel.maskExponents.contains(Float($0))
        }
    }

    /// `--float16` (blend and train): how the written model stores its weights.
    var modelPrecision: SafeTensors.Precision { flag("float16") ? .float16 : .float32 }

    /// What `--float16` does to a model file, for the options' help.
    static let float16Effect = "a file half the size, each weight rounded to 11 significant bits."

    /// `--atten-limit` (apply and blend): a level in dB, 0 or more, or `none` (infinity); nil when absent.
    func attenuationLimit() throws -> Double? {
        guard let text = string("atten-limit") else { return nil }
        if text.trimmingCharacters(in: .whitespaces).lowercased() == "none" { return .infinity }
        guard let level = parseDouble(text), level >= 0 else {
            throw invalidValue("atten-limit", expected: "a level in dB >= 0, or none")
        }
        return level
    }

    // Options declared with a default always have a value (the parser supplies the default), so these return it
    // without an optional and the default is written once, in the option's declaration.

    func defaultedString(_ name: String) -> String { declaredDefault(string(name), name) }

    /// A `.choice` option whose choices are the names of `T`'s cases: the parser has checked the value already.
    func defaultedChoice<T: RawRepresentable>(_ name: String, as _: T.Type = T.self) -> T where T.RawValue == String {
        guard let value = T(rawValue: defaultedString(name)) else {
            preconditionFailure("--\(name)'s choices are \(T.self)'s names")
        }
        return value
    }

    func defaultedDouble(_ name: String, expected: String, where isValid: (Double) -> Bool) throws -> Double {
        declaredDefault(try double(name, expected: expected, where: isValid), name)
    }

    func defaultedInt(_ name: String, expected: String, where isValid: (Int) -> Bool) throws -> Int {
        declaredDefault(try int(name, expected: expected, where: isValid), name)
    }

    private func declaredDefault<T>(_ value: T?, _ name: String) -> T {
        guard let value else { preconditionFailure("--\(name) declares no default") }
        return value
    }

    /// `invalid value '<given>' for -j/--jobs: expected <expected>`.
    func invalidValue(_ name: String, expected: String) -> UsageError {
        let names = signature.option(named: name)?.displayName ?? "--\(name)"
        return UsageError("invalid value '\(string(name) ?? "")' for \(names): expected \(expected)")
    }
}
