import Logging
import PostgresClient
import Store
import Testing
import TestSupport

@Suite struct MigratorTests {
    @Test func migrateTwiceIsANoOpTheSecondTime() async throws {
        try await TestDatabase.with { database in
            try await withPool(url: database.url) { pool in
                let migrator = Migrator(pool: pool, logger: Logger(label: "test"))
                #expect(throws: StoreError.self) { try Migrator.checkSchema(on: PostgresConnection(url: database.url)) }
                let first = try await migrator.migrate()
                #expect(first.map(\.version) == Migration.all.map(\.version))
                let second = try await migrator.migrate()
                #expect(second.isEmpty)
                let version = try await migrator.currentVersion()
                #expect(version == Migration.latestVersion)
                try Migrator.checkSchema(on: PostgresConnection(url: database.url))
            }
        }
    }

    @Test func outdatedSchemaTellsTheOperatorToMigrate() async throws {
        try await TestDatabase.with { database in
            try await withPool(url: database.url) { pool in
                let error = #expect(throws: StoreError.self) { try Migrator.checkSchema(on: PostgresConnection(url: database.url)) }
                #expect(error?.code == .schemaOutdated)
                #expect(error?.message.contains("scribes-assistant migrate") == true)
            }
        }
    }

    @Test func concurrentMigrationsDoNotCollide() async throws {
        try await TestDatabase.with { database in
            let applied = try await withThrowingTaskGroup(of: [Migration].self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        try await withPool(url: database.url, maxConnections: 1) { pool in
                            try await Migrator(pool: pool, logger: Logger(label: "test")).migrate()
                        }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            // Exactly one run applied the migrations; the others found nothing to do.
            #expect(applied.filter { !$0.isEmpty }.count == 1)
            #expect(applied.flatMap { $0 }.count == Migration.all.count)
            try await withPool(url: database.url) { pool in
                let rows = try await pool.query("SELECT count(*) AS n FROM schema_migrations")
                #expect(try rows.rows[0].decode(required: "n", as: Int.self) == Migration.all.count)
            }
        }
    }
}

/// A fresh, migrated database with a pool on it.
func withMigratedDatabase<Result>(_ body: (PostgresConnectionPool) async throws -> Result) async throws -> Result {
    try await TestDatabase.with { database in
        try await withPool(url: database.url) { pool in
            _ = try await Migrator(pool: pool, logger: Logger(label: "test")).migrate()
            return try await body(pool)
        }
    }
}
