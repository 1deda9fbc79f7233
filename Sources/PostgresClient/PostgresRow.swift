/// One row of a result, in text format, decoded by column name or position.
public struct PostgresRow: Sendable {
    /// Column names shared by every row of one result.
    let columns: PostgresColumns
    /// Each column's text; nil is SQL NULL.
    public let values: [String?]

    /// The column's value; nil for SQL NULL.
    /// - Throws: ``PostgresError`` `.decodingFailed` for an unknown column or a text that is not a `Value`.
    public func decode<Value: PostgresDecodable>(_ column: String, as type: Value.Type = Value.self) throws(PostgresError) -> Value? {
        guard let index = columns.index(of: column) else {
            throw PostgresError(code: .decodingFailed, message: "no column '\(column)' in the result (columns: \(columns.names.joined(separator: ", ")))")
        }
        return try decode(at: index, as: type)
    }

    /// The column's value, which must not be NULL.
    public func decode<Value: PostgresDecodable>(required column: String, as type: Value.Type = Value.self) throws(PostgresError) -> Value {
        guard let value = try decode(column, as: type) else {
            throw PostgresError(code: .decodingFailed, message: "column '\(column)' is NULL, expected \(Value.self)")
        }
        return value
    }

    /// The value at position `index`; nil for SQL NULL.
    public func decode<Value: PostgresDecodable>(at index: Int, as type: Value.Type = Value.self) throws(PostgresError) -> Value? {
        guard values.indices.contains(index) else {
            throw PostgresError(code: .decodingFailed, message: "no column \(index) in a row of \(values.count)")
        }
        guard let text = values[index] else { return nil }
        guard let value = Value(postgresText: text) else {
            throw PostgresError(code: .decodingFailed, message: "column '\(columns.names[index])' holds '\(text.prefix(40))', not a \(Value.self)")
        }
        return value
    }
}

/// The column names of a result.
final class PostgresColumns: Sendable {
    let names: [String]
    init(names: [String]) { self.names = names }
    func index(of name: String) -> Int? { names.firstIndex(of: name) }
}

/// What a statement returned.
public struct PostgresQueryResult: Sendable {
    public let rows: [PostgresRow]
    /// Rows inserted, updated or deleted (PQcmdTuples), 0 for other statements.
    public let affectedRows: Int
}
