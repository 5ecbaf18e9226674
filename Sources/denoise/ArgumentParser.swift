import Foundation

/// A mistake in how a command was called. Reported as `error: <message>` plus the usage line; exit status 64.
struct UsageError: Error, CustomStringConvertible, Equatable {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// What an option's value must look like. Checked while parsing, so `--epochs ten` is a usage error
/// before any work starts.
enum ValueKind: Equatable {
    case string
    case int
    case float
    case path
    /// Comma-separated values; the option may also be given several times (`--noise a --noise b,c`).
    case list
    /// One of a fixed set of words (`--arch mlp|cnn`).
    case choice([String])
}

/// A named option (`--name VALUE`, `--name=VALUE`, `-n VALUE`, `-nVALUE`) or a flag (`--name`, `-n`).
struct Option: Equatable {
    /// The long name without dashes; also the key for the accessors of `ParsedArguments`.
    let name: String
    let short: Character?
    /// Shown in help as `<valueName>`; nil for a flag.
    let valueName: String?
    let kind: ValueKind
    let help: String
    /// Used when the option is not given, and shown in help as `(default: ...)`.
    let defaultValue: String?
    let isRequired: Bool

    var isFlag: Bool { valueName == nil }

    static func option(_ name: String, short: Character? = nil, value valueName: String, kind: ValueKind = .string,
                       help: String, default defaultValue: String? = nil, required: Bool = false) -> Option {
        Option(name: name, short: short, valueName: valueName, kind: kind, help: help,
               defaultValue: defaultValue, isRequired: required)
    }

    static func flag(_ name: String, short: Character? = nil, help: String) -> Option {
        Option(name: name, short: short, valueName: nil, kind: .string, help: help,
               defaultValue: nil, isRequired: false)
    }

    /// `--name` or `-s/--name`, as written in messages.
    var displayName: String { (short.map { "-\($0)/" } ?? "") + "--\(name)" }
}

/// A positional argument; a repeated one takes every remaining argument.
struct Positional: Equatable {
    /// Key for the accessors of `ParsedArguments`.
    let name: String
    /// Shown in usage and help (`IN.wav`).
    let valueName: String
    let help: String
    let isRepeated: Bool
    let isRequired: Bool

    init(_ name: String, value valueName: String, help: String, repeated: Bool = false, required: Bool = true) {
        self.name = name
        self.valueName = valueName
        self.help = help
        self.isRepeated = repeated
        self.isRequired = required
    }
}

/// Everything a command accepts.
struct ArgumentSignature {
    var options: [Option]
    var positionals: [Positional]

    /// `-h/--help` is accepted by every command and listed last in its help.
    static let helpOption = Option.flag("help", short: "h", help: "Show this help.")

    func option(named name: String) -> Option? { options.first { $0.name == name } }
    func option(short: Character) -> Option? { options.first { $0.short == short } }
}

/// The outcome of parsing: either a request for help or the arguments, checked against the signature.
enum ParseResult {
    case help
    case arguments(ParsedArguments)
}

/// Parsed values with typed accessors. Values were validated while parsing (numbers parse, choices match),
/// so the accessors cannot fail; they fall back to the option's default when it was not given.
struct ParsedArguments {
    let signature: ArgumentSignature
    /// Every occurrence of each valued option, in order, keyed by long name.
    fileprivate(set) var values: [String: [String]] = [:]
    fileprivate(set) var flags: Set<String> = []
    fileprivate(set) var positionalValues: [String: [String]] = [:]

    init(signature: ArgumentSignature) { self.signature = signature }

    /// Whether the option or flag was given on the command line (defaults do not count).
    func has(_ name: String) -> Bool {
        precondition(signature.option(named: name) != nil, "no option --\(name) in this command")
        return values[name] != nil || flags.contains(name)
    }

    func flag(_ name: String) -> Bool {
        precondition(signature.option(named: name)?.isFlag == true, "no flag --\(name) in this command")
        return flags.contains(name)
    }

    /// The last value given, else the default.
    func string(_ name: String) -> String? {
        guard let option = signature.option(named: name), !option.isFlag else {
            preconditionFailure("no option --\(name) in this command")
        }
        return values[name]?.last ?? option.defaultValue
    }

    func int(_ name: String) -> Int? {
        guard let text = string(name) else { return nil }
        guard let value = parseInt(text) else { preconditionFailure("--\(name) holds '\(text)', not an integer") }
        return value
    }

    func double(_ name: String) -> Double? {
        guard let text = string(name) else { return nil }
        guard let value = parseDouble(text) else { preconditionFailure("--\(name) holds '\(text)', not a number") }
        return value
    }

    func path(_ name: String) -> URL? { string(name).map(fileURL) }

    /// All values of a repeatable, comma-separated option, in order; the default's when not given.
    func list(_ name: String) -> [String] {
        guard let option = signature.option(named: name), !option.isFlag else {
            preconditionFailure("no option --\(name) in this command")
        }
        let given = values[name] ?? option.defaultValue.map { [$0] } ?? []
        return given.flatMap(splitList)
    }

    func positional(_ name: String) -> String? { positionals(name).first }

    func positionals(_ name: String) -> [String] {
        precondition(signature.positionals.contains { $0.name == name }, "no positional \(name) in this command")
        return positionalValues[name] ?? []
    }
}

/// Parses command-line arguments against a signature, in the manner of getopt_long:
/// a valued option always takes the next argument (so `--snr-range -5,20` works), `--` ends the options,
/// single-letter flags may be grouped (`-vf`), and a lone `-` is a positional.
struct ArgumentParser {
    let signature: ArgumentSignature

    init(_ signature: ArgumentSignature) { self.signature = signature }

    private struct HelpRequested: Error {}

    func parse(_ arguments: [String]) throws -> ParseResult {
        do {
            return try parseArguments(arguments)
        } catch is HelpRequested {
            return .help
        }
    }

    private func parseArguments(_ arguments: [String]) throws -> ParseResult {
        var parsed = ParsedArguments(signature: signature)
        var loose: [String] = []
        var index = 0
        var optionsEnded = false

        func nextValue(for option: Option) throws -> String {
            guard index < arguments.count else {
                throw UsageError("missing value for \(option.displayName) <\(option.valueName ?? "")>")
            }
            // `--clean --help` asks for help rather than naming a folder "--help".
            if arguments[index] == "--help" { throw HelpRequested() }
            index += 1
            return arguments[index - 1]
        }

        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if optionsEnded || argument == "-" || !argument.hasPrefix("-") {
                loose.append(argument)
            } else if argument == "--" {
                optionsEnded = true
            } else if argument.hasPrefix("--") {
                let body = argument.dropFirst(2)
                let name = String(body.prefix { $0 != "=" })
                let inline = body.firstIndex(of: "=").map { String(body[body.index(after: $0)...]) }
                if name == "help" { return .help }
                guard let option = signature.option(named: name) else {
                    throw UsageError("unknown option '--\(name)'" + suggestion(for: name))
                }
                if option.isFlag {
                    if inline != nil { throw UsageError("\(option.displayName) does not take a value") }
                    parsed.flags.insert(name)
                } else {
                    try store(inline ?? nextValue(for: option), for: option, in: &parsed)
                }
            } else {
                // One or more single-letter options: `-v`, `-vf`, `-j2`, `-j 2`, `-o=DIR`.
                let letters = Array(argument.dropFirst())
                var position = 0
                while position < letters.count {
                    let letter = letters[position]
                    if letter == "h" { return .help }
                    guard let option = signature.option(short: letter) else {
                        throw UsageError("unknown option '-\(letter)'")
                    }
                    position += 1
                    if option.isFlag {
                        parsed.flags.insert(option.name)
                        continue
                    }
                    var rest = String(letters[position...])
                    if rest.hasPrefix("=") { rest.removeFirst() }
                    try store(position < letters.count ? rest : nextValue(for: option), for: option, in: &parsed)
                    break
                }
            }
        }

        try assignPositionals(loose, to: &parsed)
        for option in signature.options where option.isRequired && parsed.values[option.name] == nil {
            throw UsageError("missing required option \(option.displayName) <\(option.valueName ?? "")>")
        }
        return .arguments(parsed)
    }

    private func store(_ value: String, for option: Option, in parsed: inout ParsedArguments) throws {
        try validate(value, for: option)
        parsed.values[option.name, default: []].append(value)
    }

    private func validate(_ value: String, for option: Option) throws {
        let what = "value '\(value)' for \(option.displayName)"
        switch option.kind {
        case .string:
            break
        case .path:
            if value.isEmpty { throw UsageError("empty path for \(option.displayName)") }
        case .int:
            if parseInt(value) == nil { throw UsageError("invalid \(what): expected an integer") }
        case .float:
            if parseDouble(value) == nil { throw UsageError("invalid \(what): expected a number") }
        case .list:
            if splitList(value).contains(where: \.isEmpty) { throw UsageError("invalid \(what): empty list item") }
        case .choice(let words):
            if !words.contains(value) {
                throw UsageError("invalid \(what): expected one of \(words.joined(separator: ", "))")
            }
        }
    }

    /// Non-repeated positionals take one argument each, in order; a repeated one takes whatever the
    /// positionals after it leave.
    private func assignPositionals(_ loose: [String], to parsed: inout ParsedArguments) throws {
        var remaining = loose[...]
        for (index, positional) in signature.positionals.enumerated() {
            let after = signature.positionals[(index + 1)...].filter { !$0.isRepeated }.count
            let take = positional.isRepeated ? max(0, remaining.count - after) : min(1, remaining.count)
            if take == 0 {
                if positional.isRequired { throw UsageError("missing argument <\(positional.valueName)>") }
                continue
            }
            parsed.positionalValues[positional.name] = Array(remaining.prefix(take))
            remaining = remaining.dropFirst(take)
        }
        if let extra = remaining.first { throw UsageError("unexpected argument '\(extra)'") }
    }

    private func suggestion(for name: String) -> String {
        let names = signature.options.map(\.name) + ["help"]
        guard let best = closestMatch(to: name, in: names) else { return "" }
        return " (did you mean '--\(best)'?)"
    }
}

/// The candidate within an edit distance of 2 (or a third of the word) of `word`, if any.
func closestMatch(to word: String, in candidates: [String]) -> String? {
    let limit = max(2, word.count / 3)
    let scored = candidates.map { ($0, editDistance(word, $0)) }.filter { $0.1 <= limit }
    return scored.min { $0.1 < $1.1 }?.0
}

/// Levenshtein distance (insertions, deletions and substitutions each cost 1).
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    guard !a.isEmpty, !b.isEmpty else { return max(a.count, b.count) }
    // previous[j]: distance between the first i-1 letters of a and the first j of b.
    var previous = Array(0...b.count)
    var current = previous
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
            current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}

/// Integers as written on a command line: an optional sign and decimal digits.
func parseInt(_ text: String) -> Int? { Int(text.trimmingCharacters(in: .whitespaces)) }

/// Finite decimal numbers (`0.1`, `-5`, `1e-3`); `nan` and `inf` are refused.
func parseDouble(_ text: String) -> Double? {
    guard let value = Double(text.trimmingCharacters(in: .whitespaces)), value.isFinite else { return nil }
    return value
}

func splitList(_ text: String) -> [String] {
    text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
}

/// A file URL for a command-line path: `~` expanded, relative paths against the current directory.
func fileURL(_ path: String) -> URL {
    URL(fileURLWithPath: (path as NSString).expandingTildeInPath)
}
