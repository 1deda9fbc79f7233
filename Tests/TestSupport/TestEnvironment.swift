import Foundation

/// What scripts/test started for the tests, read from its environment.
public enum TestEnvironment {
    /// The shared PostgreSQL cluster's admin URL (SCRIBES_TEST_DATABASE_URL).
    public static var databaseURL: String {
        get throws { try required("SCRIBES_TEST_DATABASE_URL") }
    }

    /// The shared redis-server's port on 127.0.0.1 (SCRIBES_TEST_REDIS_PORT).
    public static var redisPort: Int {
        get throws { Int(try required("SCRIBES_TEST_REDIS_PORT")) ?? 0 }
    }

    /// PostgreSQL's bin directory (initdb, pg_ctl) for private clusters.
    public static var postgresBin: String {
        ProcessInfo.processInfo.environment["SCRIBES_TEST_PG_BIN"] ?? "/usr/lib/postgresql/15/bin"
    }

    /// The KJV JSONL file (SCRIBES_TEST_KJV).
    public static var kjvPath: String {
        get throws { try required("SCRIBES_TEST_KJV") }
    }

    /// The sentence-embedding model's folder (SCRIBES_TEST_MODEL: scripts/test runs scripts/fetch-model).
    public static var modelFolder: String {
        get throws { try required("SCRIBES_TEST_MODEL") }
    }

    /// The KJV's precomputed vectors (SCRIBES_TEST_KJV_VECTORS: etc/library/kjv-verses.vectors).
    public static var kjvVectorsPath: String {
        get throws { try required("SCRIBES_TEST_KJV_VECTORS") }
    }

    /// Nave's Topical Bible as JSONL (SCRIBES_TEST_TOPICS: scripts/topics-path); its vectors are etc/library/naves-topics.vectors.
    public static var topicsPath: String {
        get throws { try required("SCRIBES_TEST_TOPICS") }
    }

    /// The scribes-assistant binary built beside the test bundle (or SCRIBES_BINARY).
    public static var binaryPath: String {
        if let path = ProcessInfo.processInfo.environment["SCRIBES_BINARY"] { return path }
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return bundle.appendingPathComponent("scribes-assistant").path
    }

    static func required(_ name: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
            throw TestEnvironmentError(message: "\(name) is not set: run the tests with scripts/test, which starts Redis and PostgreSQL")
        }
        return value
    }
}

public struct TestEnvironmentError: Error, CustomStringConvertible {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
