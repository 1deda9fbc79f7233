import Foundation
import PostgresClient

/// A database of its own for one test, on the shared cluster, dropped afterwards.
public struct TestDatabase: Sendable {
    public let name: String
    public let url: String

    /// Creates a fresh, empty database, runs `body` with it and drops it.
    public static func with<Result>(_ body: (TestDatabase) async throws -> Result) async throws -> Result {
        let admin = try TestEnvironment.databaseURL
        let name = "scribes_test_\(UInt64.random(in: 0...UInt64.max))"
        let connection = try PostgresConnection(url: admin)
        try connection.query("CREATE DATABASE \(name)")
        defer { _ = try? connection.query("DROP DATABASE IF EXISTS \(name) WITH (FORCE)") }
        let database = TestDatabase(name: name, url: Self.url(admin, database: name))
        return try await body(database)
    }

    /// `url` with its database path replaced by `database`.
    static func url(_ url: String, database: String) -> String {
        var components = URLComponents(string: url)!
        components.path = "/" + database
        return components.string!
    }
}
