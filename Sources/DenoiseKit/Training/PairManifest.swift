import Foundation

enum ManifestError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String, reason: String)
    case empty(path: String)
    case missingColumn(path: String, column: String, header: [String])
    case shortRow(path: String, line: Int, column: String)
    case unterminatedQuote(path: String, line: Int)
    case missingFile(path: String, line: Int, column: String, file: String)

    var description: String {
        switch self {
        case let .unreadable(path, reason): return "\(path): cannot read the pair manifest: \(reason)"
        case let .empty(path): return "\(path): the pair manifest lists no pairs"
        case let .missingColumn(path, column, header):
            return "\(path): the header has no '\(column)' column (it has: \(header.joined(separator: ", "))); "
                + "a pair manifest needs 'noisy' and 'clean' columns"
        case let .shortRow(path, line, column): return "\(path), line \(line): no value in the '\(column)' column"
        case let .unterminatedQuote(path, line): return "\(path), line \(line): a quoted field is never closed"
        case let .missingFile(path, line, column, file):
            return "\(path), line \(line): the \(column) file \(file) does not exist"
        }
    }
}

/// A CSV file listing training pairs: a header line naming at least the columns `noisy` and `clean`
/// (in any order, among others), then one pair a line. Paths are absolute or relative to the manifest's folder.
public struct PairManifest: Sendable {
    public struct Row: Equatable, Sendable {
        /// Line of the file the row starts on, from 1 (the header is line 1).
        public let line: Int
        /// The paths as written in the file.
        public let noisy: String
        public let clean: String
    }

    public let url: URL
    public let rows: [Row]

    /// Reads and checks the manifest; every listed file must exist.
    public static func read(_ url: URL) throws -> PairManifest {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            let reason = FileManager.default.fileExists(atPath: url.path) ? "not UTF-8 text" : "no such file"
            throw ManifestError.unreadable(path: url.path, reason: reason)
        }
        let records = try CSVRecords.parse(text, path: url.path).filter { !$0.isBlank }
        guard let header = records.first else { throw ManifestError.empty(path: url.path) }
        let columns = header.fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        func column(_ name: String) throws -> Int {
            guard let index = columns.firstIndex(of: name) else {
                throw ManifestError.missingColumn(path: url.path, column: name, header: header.fields)
            }
            return index
        }
        let noisyColumn = try column("noisy"), cleanColumn = try column("clean")
        let folder = url.deletingLastPathComponent()
        let rows = try records.dropFirst().map { record -> Row in
            func value(_ index: Int, _ name: String) throws -> String {
                let field = index < record.fields.count ? record.fields[index].trimmingCharacters(in: .whitespaces) : ""
                guard !field.isEmpty else {
                    throw ManifestError.shortRow(path: url.path, line: record.line, column: name)
                }
                let file = resolve(field, in: folder)
                guard FileManager.default.fileExists(atPath: file.path) else {
                    throw ManifestError.missingFile(path: url.path, line: record.line, column: name, file: file.path)
                }
                return field
            }
            return Row(line: record.line, noisy: try value(noisyColumn, "noisy"),
                       clean: try value(cleanColumn, "clean"))
        }
        guard !rows.isEmpty else { throw ManifestError.empty(path: url.path) }
        return PairManifest(url: url, rows: rows)
    }

    /// Where a path written in the manifest points.
    public func file(_ path: String) -> URL { Self.resolve(path, in: url.deletingLastPathComponent()) }

    private static func resolve(_ path: String, in folder: URL) -> URL {
        path.hasPrefix("/") ? URL(fileURLWithPath: path) : folder.appendingPathComponent(path)
    }
}

/// The records of CSV text (RFC 4180: quoted fields may hold commas, doubled quotes and line breaks), each with
/// the line it starts on. A byte-order mark and CRLF line ends are accepted.
enum CSVRecords {
    struct Record {
        let line: Int
        let fields: [String]
        var isBlank: Bool { fields.allSatisfy { $0.trimmingCharacters(in: .whitespaces).isEmpty } }
    }

    static func parse(_ text: String, path: String) throws -> [Record] {
        var records: [Record] = []
        var fields: [String] = [], field = "", quoted = false, atFieldStart = true
        var line = 1, recordLine = 1
        var characters = text.unicodeScalars.makeIterator()
        var pending = characters.next()
        if pending == "\u{FEFF}" { pending = characters.next() }
        func endRecord() {
            fields.append(field)
            records.append(Record(line: recordLine, fields: fields))
            fields = []
            field = ""
            atFieldStart = true
        }
        while let c = pending {
            pending = characters.next()
            if quoted {
                if c == "\"" {
                    // A doubled quote inside quotes stands for one quote; a single one closes the field.
                    if pending == "\"" {
                        field.unicodeScalars.append(c)
                        pending = characters.next()
                    } else {
                        quoted = false
                    }
                } else {
                    if c == "\n" { line += 1 }
                    field.unicodeScalars.append(c)
                }
                continue
            }
            switch c {
            case "\"" where atFieldStart:
                quoted = true
                atFieldStart = false
            case ",":
                fields.append(field)
                field = ""
                atFieldStart = true
            case "\r" where pending == "\n":
                continue
            case "\n":
                endRecord()
                line += 1
                recordLine = line
            default:
                field.unicodeScalars.append(c)
                atFieldStart = false
            }
        }
        if quoted { throw ManifestError.unterminatedQuote(path: path, line: recordLine) }
        if !field.isEmpty || !fields.isEmpty { endRecord() }
        return records
    }
}
