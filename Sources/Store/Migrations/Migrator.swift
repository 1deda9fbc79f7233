import Logging
import PostgresClient

/// Applies pending migrations under a PostgreSQL advisory lock, and tells
/// `serve` whether the schema is the one this binary needs.
public struct Migrator: Sendable {
    /// The advisory lock key ("scribes" in ASCII) that serialises every `migrate`.
    static let lockKey: Int64 = 0x73_63_72_69_62_65_73
    let pool: PostgresConnectionPool
    let logger: Logger

    public init(pool: PostgresConnectionPool, logger: Logger) {
        self.pool = pool
        self.logger = logger
    }

    /// Applies every migration the database lacks and returns them.
    ///
    /// Concurrent runs wait for each other on the advisory lock; the later one
    /// finds nothing to do. Each migration commits on its own with its version row.
    public func migrate() async throws -> [Migration] {
        try await pool.withConnection(timeout: .seconds(30)) { [logger] connection in
            try connection.query("SELECT pg_advisory_lock($1)", [Self.lockKey])
            defer { _ = try? connection.query("SELECT pg_advisory_unlock($1)", [Self.lockKey]) }
            try connection.query("""
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version integer PRIMARY KEY,
                    name text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """)
            let current = try Self.currentVersion(connection)
            let pending = Migration.all.filter { $0.version > current }
            for migration in pending {
                try connection.transaction {
                    for statement in migration.statements { try connection.query(statement) }
                    try connection.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", [migration.version, migration.name])
                }
                logger.info("applied migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
            }
            return pending
        }
    }

    /// The schema version the database is at (0 before the first `migrate`).
    public func currentVersion() async throws -> Int {
        try await pool.withConnection { try Self.currentVersion($0) }
    }

    /// Throws unless the database is exactly at ``Migration/latestVersion``; on one
    /// connection, as the supervisor (which runs no thread pool or event loop) checks it.
    /// - Throws: ``StoreError`` `.schemaOutdated` (run `migrate`) or `.schemaTooNew`.
    public static func checkSchema(on connection: PostgresConnection) throws {
        try checkSchema(version: try currentVersion(connection))
    }

    static func checkSchema(version current: Int) throws(StoreError) {
        let needed = Migration.latestVersion
        if current < needed {
            throw StoreError(code: .schemaOutdated, message: "the database schema is at version \(current) but this binary needs \(needed): run `scribes-assistant migrate`")
        }
        if current > needed {
            throw StoreError(code: .schemaTooNew, message: "the database schema is at version \(current), newer than this binary's \(needed): install the matching scribes-assistant")
        }
    }

    private static func currentVersion(_ connection: PostgresConnection) throws -> Int {
        let exists = try connection.query("SELECT to_regclass('schema_migrations') IS NOT NULL AS present")
        guard try exists.rows.first?.decode(required: "present", as: Bool.self) == true else { return 0 }
        let result = try connection.query("SELECT coalesce(max(version), 0) AS version FROM schema_migrations")
        return try result.rows.first?.decode(required: "version", as: Int.self) ?? 0
    }
}
