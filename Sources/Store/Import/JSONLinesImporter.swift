import FoundationEssentials
import PostgresClient
import Primitives

/// How an import treats lines that are not valid records.
public enum ImportMode: Sendable {
    /// Any invalid line rolls the whole import back (the default): nothing is half-imported.
    case allOrNothing
    /// Invalid lines are reported and skipped; the valid ones are imported.
    case skipInvalid
}

/// A line of an import file that was not a valid record.
public struct InvalidLine: Error, Sendable, Equatable, CustomStringConvertible {
    public let line: Int
    public let reason: String
    public var description: String { "line \(line): \(reason)" }
}

/// What an import did.
public struct ImportSummary: Sendable, Equatable {
    /// Non-blank lines read.
    public var records = 0
    /// Rows added.
    public var inserted = 0
    /// Valid records that were already there (a re-import adds nothing).
    public var alreadyPresent = 0
    /// Lines skipped, with why (``ImportMode/skipInvalid`` only).
    public var invalid: [InvalidLine] = []

    /// One line for the operator, plus one per skipped line.
    public func report(noun: String, seconds: Double) -> String {
        var lines = ["imported \(inserted) \(noun) (\(alreadyPresent) already present, \(invalid.count) invalid lines skipped) in \(seconds.formatted(decimals: 2)) s"]
        lines += invalid.map { "  skipped \($0)" }
        return lines.joined(separator: "\n")
    }
}


/// A record type that a JSONL import reads.
package protocol ImportRecord: Decodable, Sendable {
    /// Why the record cannot be stored, or nil when it can.
    func problem() -> String?
}

/// Streams a JSONL file into PostgreSQL in batches inside one transaction.
package struct JSONLinesImporter<Record: ImportRecord>: Sendable {
    let batchSize: Int
    /// Inserts a batch, returning the number of rows actually added.
    let insert: @Sendable (PostgresConnection, [Record]) throws -> Int

    /// Imports `path` on `connection` (blocking).
    /// - Throws: ``StoreError`` `.invalidImport` listing the bad lines in
    ///   ``ImportMode/allOrNothing`` mode (after rolling back), `.unreadableFile`,
    ///   or a ``PostgresError``.
    func run(path: String, mode: ImportMode, on connection: PostgresConnection) throws -> ImportSummary {
        let file = try JSONLinesFile(path: path)
        defer { file.close() }
        var summary = ImportSummary()
        var batch: [Record] = []
        batch.reserveCapacity(batchSize)
        func flush() throws {
            guard !batch.isEmpty else { return }
            let added = try insert(connection, batch)
            summary.inserted += added
            summary.alreadyPresent += batch.count - added
            batch.removeAll(keepingCapacity: true)
        }
        try connection.transaction {
            for record in Self.records(in: file) {
                summary.records += 1
                switch record {
                case .success(let record): batch.append(record)
                case .failure(let invalid): summary.invalid.append(invalid)
                }
                if batch.count == batchSize { try flush() }
            }
            try flush()
            if mode == .allOrNothing && !summary.invalid.isEmpty {
                throw Self.rejection(summary.invalid, path: path)
            }
        }
        return summary
    }

    /// The file's non-blank lines, each decoded and checked (the fuzzers call it).
    package static func records(in file: JSONLinesFile) -> some Sequence<Result<Record, InvalidLine>> {
        let decoder = JSONDecoder()
        return file.lazy.filter { !$0.bytes.allSatisfy(isBlank) }.map { number, bytes in
            decode(bytes, line: number, with: decoder)
        }
    }

    private static func decode(_ bytes: [UInt8], line: Int, with decoder: JSONDecoder) -> Result<Record, InvalidLine> {
        let record: Record
        do {
            record = try decoder.decode(Record.self, from: Data(bytes))
        } catch let error as DecodingError {
            return .failure(InvalidLine(line: line, reason: describe(error)))
        } catch {
            return .failure(InvalidLine(line: line, reason: "not a JSON object"))
        }
        if let problem = record.problem() { return .failure(InvalidLine(line: line, reason: problem)) }
        return .success(record)
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map(\.stringValue).joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, _): return "missing field '\(key.stringValue)'"
        case .typeMismatch(let type, let context): return "field '\(path(context))' is not \(typeName(type))"
        case .valueNotFound(let type, let context): return "field '\(path(context))' is null, expected \(typeName(type))"
        case .dataCorrupted(let context): return context.codingPath.isEmpty ? "not valid JSON" : "field '\(path(context))' is invalid"
        @unknown default: return "not a valid record"
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        type == Int.self ? "an integer" : type == String.self ? "a string" : "\(type)"
    }

    private static func isBlank(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r")
    }

    private static func rejection(_ invalid: [InvalidLine], path: String) -> StoreError {
        let shown = invalid.prefix(20).map(\.description).joined(separator: "; ")
        let more = invalid.count > 20 ? " (and \(invalid.count - 20) more)" : ""
        return StoreError(
            code: .invalidImport,
            message: "\(path): \(invalid.count) invalid line(s), nothing imported: \(shown)\(more). Fix them, or pass --skip-invalid to import the valid lines")
    }
}

/// `(${first}, ${first+1}, ...)` rows for a multi-row VALUES list of `width` columns.
func valuesPlaceholders(rows: Int, width: Int, firstParameter: Int = 1, casts: [String]) -> String {
    (0..<rows).map { row in
        let columns = (0..<width).map { column in "$\(firstParameter + row * width + column)\(casts[column])" }
        return "(" + columns.joined(separator: ", ") + ")"
    }.joined(separator: ", ")
}
