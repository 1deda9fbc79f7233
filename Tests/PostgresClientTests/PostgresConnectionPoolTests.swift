import PostgresClient
import Testing
import TestSupport

@Suite struct PostgresConnectionPoolTests {
    /// Takes the pool's only connection for `seconds`; returns once it is taken.
    static func holdTheOnlyConnection(of pool: PostgresConnectionPool, seconds: Double) async -> Task<Void, any Error> {
        let (taken, signal) = AsyncStream.makeStream(of: Void.self)
        let holding = Task {
            try await pool.withConnection { connection in
                signal.yield()
                try connection.query("SELECT pg_sleep(\(seconds))")
            }
        }
        for await _ in taken { break }
        return holding
    }

    @Test func manyConcurrentCallersShareABoundedPool() async throws {
        try await withPool(url: try TestEnvironment.databaseURL, maxConnections: 3) { pool in
            try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<200 {
                    group.addTask {
                        let value = try await pool.query("SELECT $1::int AS n", [index]).rows[0].decode(required: "n", as: Int.self)
                        #expect(pool.openConnectionCount <= 3)
                        return value
                    }
                }
                var sum = 0
                for try await value in group { sum += value }
                #expect(sum == (0..<200).reduce(0, +))
            }
            #expect(pool.openConnectionCount <= 3)
        }
    }

    @Test func exhaustedPoolWaitsThenTimesOutClearly() async throws {
        try await withPool(url: try TestEnvironment.databaseURL, maxConnections: 1) { pool in
            let holding = await Self.holdTheOnlyConnection(of: pool, seconds: 1.5)
            let start = ContinuousClock.now
            let error = await #expect(throws: PostgresError.self) {
                try await pool.query("SELECT 1", timeout: .milliseconds(300))
            }
            let waited = ContinuousClock.now - start
            #expect(error?.code == .poolTimeout)
            #expect(error?.message.contains("DATABASE_MAX_CONNECTIONS") == true)
            #expect(waited >= .milliseconds(250))
            // A caller with enough patience gets the connection once it is freed.
            let late = try await pool.query("SELECT 2 AS n", timeout: .seconds(5))
            #expect(try late.rows[0].decode(required: "n", as: Int.self) == 2)
            _ = try await holding.value
        }
    }

    @Test func aCancelledWaiterLeavesTheLineAtOnce() async throws {
        try await withPool(url: try TestEnvironment.databaseURL, maxConnections: 1) { pool in
            let holding = await Self.holdTheOnlyConnection(of: pool, seconds: 3)
            let waiting = Task { try await pool.query("SELECT 1", timeout: .seconds(30)) }
            let queued = ContinuousClock.now + .seconds(5)
            while pool.usage.waiters == 0, ContinuousClock.now < queued { try await Task.sleep(for: .milliseconds(10)) }
            #expect(pool.usage.waiters == 1)
            let start = ContinuousClock.now
            waiting.cancel()
            await #expect(throws: CancellationError.self) { try await waiting.value }
            #expect(ContinuousClock.now - start < .milliseconds(500), "not held until the connection frees")
            #expect(pool.usage.waiters == 0)
            _ = try await holding.value
            #expect(try await pool.query("SELECT 3 AS n").rows[0].decode(required: "n", as: Int.self) == 3)
        }
    }

    @Test func failingBodyReturnsItsConnection() async throws {
        try await withPool(url: try TestEnvironment.databaseURL, maxConnections: 1) { pool in
            for _ in 0..<5 {
                await #expect(throws: PostgresError.self) { try await pool.query("SELECT 1/0") }
            }
            let after = try await pool.query("SELECT 3 AS n")
            #expect(try after.rows[0].decode(required: "n", as: Int.self) == 3)
            #expect(pool.openConnectionCount == 1)
        }
    }

    @Test func unreachableServerFailsWithoutLeakingSlots() async throws {
        let port = try freeLoopbackPort()
        try await withPool(url: "postgresql://postgres@127.0.0.1:\(port)/postgres", maxConnections: 2) { pool in
            for _ in 0..<4 {
                let error = await #expect(throws: PostgresError.self) { try await pool.query("SELECT 1") }
                #expect(error?.code == .connectionFailed)
            }
            #expect(pool.openConnectionCount == 0)
        }
    }

    @Test func serverRestartIsSurvivedByTheNextQuery() async throws {
        let server = try PrivatePostgres()
        defer { withExtendedLifetime(server) {} }  // its deinit stops the server
        try await withPool(url: server.url, maxConnections: 2) { pool in
            let before = try await pool.query("SELECT pg_backend_pid() AS pid").rows[0].decode(required: "pid", as: Int.self)
            try server.restart()
            let after = try await pool.query("SELECT pg_backend_pid() AS pid").rows[0].decode(required: "pid", as: Int.self)
            #expect(before != after)
        }
    }
}
