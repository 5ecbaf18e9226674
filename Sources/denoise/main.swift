import Foundation

/// The `denoise` tool: picks the subcommand, parses its arguments and maps the outcome to an exit status:
/// 0 done, 1 a runtime failure (`error: <message>` naming the file), 64 a usage error (message and usage line),
/// 130 interrupted.
enum CLI {
    static let version = "0.1.0"
    static let abstract = "Remove noise from speech recordings with a small neural network."
    static let usage = "denoise <command> [<options>]"
    static let commands: [Command] = [TrainCommand(), ApplyCommand(), EvalCommand(), InfoCommand(), BlendCommand(),
                                      BenchCommand()]

    /// This invocation as typed (`denoise train ...`): recorded in the models that `train` and `blend` make, so that
    /// `info` shows how to make them again.
    static var invocation: String { (["denoise"] + CommandLine.arguments.dropFirst()).joined(separator: " ") }

    static var overview: String {
        var text = "OVERVIEW: \(abstract)\n\nUSAGE: \(usage)\n\nCOMMANDS:\n"
        text += HelpFormatter.table(commands.map { ($0.name, $0.abstract) })
        text += "\nOPTIONS:\n"
        text += HelpFormatter.table([("-h, --help", "Show this help."), ("    --version", "Show the version.")])
        text += "\nRun 'denoise <command> --help' for the options of a command.\n"
        return text
    }

    static func run(_ arguments: [String]) -> Int32 {
        guard let first = arguments.first else {
            Terminal.writeOut(overview)
            return ExitStatus.success
        }
        switch first {
        case "-h", "--help":
            Terminal.writeOut(overview)
            return ExitStatus.success
        case "--version":
            Terminal.writeOut("denoise \(version)\n")
            return ExitStatus.success
        case "help":
            // `denoise help [COMMAND]`, as git and swift do.
            guard arguments.count > 1 else {
                Terminal.writeOut(overview)
                return ExitStatus.success
            }
            guard arguments.count == 2, let command = command(named: arguments[1]) else {
                return usageError(arguments.count == 2 ? unknownCommand(arguments[1])
                                  : "unexpected argument '\(arguments[2])'")
            }
            Terminal.writeOut(command.helpText)
            return ExitStatus.success
        default:
            if first.hasPrefix("-") { return usageError("unknown option '\(first)'") }
            guard let command = command(named: first) else { return usageError(unknownCommand(first)) }
            return run(command, Array(arguments.dropFirst()))
        }
    }

    static func run(_ command: Command, _ arguments: [String]) -> Int32 {
        do {
            switch try ArgumentParser(command.signature).parse(arguments) {
            case .help:
                Terminal.writeOut(command.helpText)
                return ExitStatus.success
            case .arguments(let parsed):
                return try command.run(parsed)
            }
        } catch let error as UsageError {
            return usageError(error.message, usage: command.usageText, hint: "denoise \(command.name) --help")
        } catch {
            Terminal.reportError(describe(error))
            return ExitStatus.failure
        }
    }

    private static func command(named name: String) -> Command? { commands.first { $0.name == name } }

    private static func unknownCommand(_ name: String) -> String {
        let guess = closestMatch(to: name, in: commands.map(\.name)).map { " (did you mean '\($0)'?)" } ?? ""
        return "unknown command '\(name)'\(guess)"
    }

    /// `error: <message>`, the usage line(s) and where to read more, on stderr; returns 64.
    private static func usageError(_ message: String, usage: String = "usage: " + CLI.usage,
                                   hint: String = "denoise --help") -> Int32 {
        Terminal.reportError(message)
        Terminal.writeError(usage + "\nSee '\(hint)'.\n")
        return ExitStatus.usage
    }

    /// Our errors describe themselves (file and problem); Foundation's carry a localized description.
    private static func describe(_ error: Error) -> String {
        type(of: error) is NSError.Type ? error.localizedDescription : String(describing: error)
    }
}

exit(CLI.run(Array(CommandLine.arguments.dropFirst())))
