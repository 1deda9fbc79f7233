// The only file that calls libpq.
import CLibpq

#if canImport(Glibc)
import Glibc
#endif

/// One libpq connection, used through blocking calls.
///
/// Threading rule: a connection is used by one thread at a time. The pool
/// hands each connection to exactly one job on its blocking thread pool and
/// takes it back afterwards, which is why the type may be `Sendable`.
public final class PostgresConnection: @unchecked Sendable {
    private let handle: OpaquePointer

    /// Opens a connection (blocking).
    /// - Parameters:
    ///   - url: a libpq URI or key=value string; its parameters win over ours.
    ///   - connectTimeoutSeconds: libpq's `connect_timeout`.
    ///   - statementTimeoutMilliseconds: the session's `statement_timeout`, if any.
    /// - Throws: ``PostgresError`` `.connectionFailed`.
    public init(url: String, connectTimeoutSeconds: Int = 5, statementTimeoutMilliseconds: Int? = nil) throws(PostgresError) {
        // Keywords before `dbname` are defaults that the expanded URL overrides.
        // JIT is off: the appliance's queries are short, and PostgreSQL's JIT
        // compiles again on every execution (~0.5 s measured on the retrieval query).
        let options = ["-c jit=off"] + (statementTimeoutMilliseconds.map { ["-c statement_timeout=\($0)"] } ?? [])
        let keywords = ["connect_timeout", "application_name", "options", "dbname"]
        let values = [String(connectTimeoutSeconds), "scribes-assistant", options.joined(separator: " "), url]
        let connection = withCStringArray(keywords) { keywordPointers in
            withCStringArray(values) { valuePointers in
                PQconnectdbParams(keywordPointers, valuePointers, 1)
            }
        }
        guard let connection else {
            throw PostgresError(code: .connectionFailed, message: "libpq could not allocate a connection")
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = Self.errorMessage(connection)
            PQfinish(connection)
            throw PostgresError(code: .connectionFailed, message: message)
        }
        PQsetNoticeProcessor(connection, { _, _ in }, nil)  // NOTICEs (e.g. "already exists, skipping") are not errors
        self.handle = connection
    }

    deinit {
        PQfinish(handle)
    }

    /// Whether the connection is usable, checked without a round trip: an
    /// idle connection receives nothing unless the server is going away (we
    /// never LISTEN), so any byte, hang-up or error on its socket means it is
    /// not. A server restart is thus noticed before a statement is sent.
    public var isAlive: Bool {
        guard PQstatus(handle) == CONNECTION_OK, PQtransactionStatus(handle) == PQTRANS_IDLE else { return false }
        var descriptor = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, 0) == 0
    }

    /// Runs one statement with `$1...$n` parameters and returns its rows (blocking).
    /// - Throws: ``PostgresError`` classified from the SQLSTATE and connection state.
    @discardableResult
    public func query(_ sql: String, _ parameters: [any PostgresBindable] = []) throws(PostgresError) -> PostgresQueryResult {
        let texts = parameters.map(\.postgresText)
        if let index = texts.firstIndex(where: { $0?.utf8.contains(0) == true }) {
            throw PostgresError(code: .invalidParameter, message: "parameter $\(index + 1) contains a NUL byte, which PostgreSQL text cannot hold")
        }
        let result = withOptionalCStringArray(texts) { pointers in
            PQexecParams(handle, sql, Int32(texts.count), nil, pointers, nil, nil, 0)
        }
        guard let result else {
            throw PostgresError(code: .connectionLost, message: Self.errorMessage(handle))
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return Self.decodeResult(result)
        default:
            throw error(from: result)
        }
    }

    /// Runs `body` inside BEGIN ... COMMIT, rolling back when it throws.
    public func transaction<Result>(_ body: () throws -> Result) throws -> Result {
        try query("BEGIN")
        do {
            let result = try body()
            try query("COMMIT")
            return result
        } catch {
            _ = try? query("ROLLBACK")
            throw error
        }
    }

    // MARK: - Results and errors

    private static func decodeResult(_ result: OpaquePointer) -> PostgresQueryResult {
        let rowCount = Int(PQntuples(result))
        let columnCount = Int(PQnfields(result))
        let columns = PostgresColumns(names: (0..<columnCount).map { String(cString: PQfname(result, Int32($0))) })
        var rows: [PostgresRow] = []
        rows.reserveCapacity(rowCount)
        for row in 0..<Int32(rowCount) {
            let values: [String?] = (0..<Int32(columnCount)).map { column in
                guard PQgetisnull(result, row, column) == 0 else { return nil }
                let length = Int(PQgetlength(result, row, column))
                return PQgetvalue(result, row, column).withMemoryRebound(to: UInt8.self, capacity: length) {
                    String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
                }
            }
            rows.append(PostgresRow(columns: columns, values: values))
        }
        let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
        return PostgresQueryResult(rows: rows, affectedRows: affected)
    }

    private func error(from result: OpaquePointer) -> PostgresError {
        let message = Self.trimmed(String(cString: PQresultErrorMessage(result)))
        let sqlState = Self.field(result, clibpq_diag_sqlstate)
        let constraint = Self.field(result, clibpq_diag_constraint_name)
        if PQstatus(handle) != CONNECTION_OK {
            return PostgresError(code: .connectionLost, message: message, sqlState: sqlState)
        }
        let code: PostgresError.Code = switch sqlState?.prefix(2) {
        case "23": .constraintViolation
        case "08": .connectionLost
        default: .queryFailed
        }
        return PostgresError(code: code, message: message, sqlState: sqlState, constraint: constraint)
    }

    private static func field(_ result: OpaquePointer, _ code: Int32) -> String? {
        PQresultErrorField(result, code).map { String(cString: $0) }
    }

    private static func errorMessage(_ connection: OpaquePointer) -> String {
        trimmed(String(cString: PQerrorMessage(connection)))
    }

    private static func trimmed(_ message: String) -> String {
        String(message.split(separator: "\n").map { $0.trimmingPrefix("ERROR:  ") }.joined(separator: " "))
    }
}

/// Calls `body` with a NULL-terminated array of C strings that live for the call.
private func withCStringArray<Result>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> Result) -> Result {
    withOptionalCStringArray(strings.map(Optional.some)) { pointers in body(pointers) }
}

/// Like `withCStringArray`, with nil elements passed as NULL (SQL NULL parameters).
private func withOptionalCStringArray<Result>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> Result) -> Result {
    let duplicates: [UnsafeMutablePointer<CChar>?] = strings.map { $0.flatMap { strdup($0) } }
    defer { duplicates.forEach { free($0) } }
    let pointers = duplicates.map { UnsafePointer($0) } + [nil]
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
