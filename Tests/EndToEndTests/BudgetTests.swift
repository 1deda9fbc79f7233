import Foundation
import Testing
import TestSupport

/// Daily cost budgets through the real binary with two workers, each test on a
/// Redis of its own, against a fake upstream that reports real usage: every
/// call costs (321 × 0.005 + 47 × 0.01) / 1000 = 0.002075 USD.
@Suite struct BudgetTests {
    static let users = ["user1@example.com": "password123", "user2@example.com": "password123"]
    static let callCost = 2075  // micro-USD

    let redis: PrivateRedis
    let upstream: FakeUpstream

    init() throws {
        redis = try PrivateRedis()
        upstream = try FakeUpstream()
        upstream.behavior.latency = .milliseconds(200)
    }

    /// Prices and sizes that make a reservation about 0.0027 USD.
    func appliance(_ environment: [String: String?]) throws -> Appliance {
        try Appliance(
            library: try UpstreamTests.library.get(), users: Self.users,
            environment: [
                "WORKERS": "2", "RATE_LIMITING_ENABLED": "true", "REDIS_PORT": String(redis.port),
                "RATE_LIMIT_PER_MINUTE": "1000", "RATE_LIMIT_PER_HOUR": "1000", "RATE_LIMIT_PER_DAY": "1000",
                "LLM_PROVIDER": "openai", "LLM_BASE_URL": upstream.baseURL, "LLM_MODEL": "fake-model",
                "LLM_PRICE_INPUT_PER_1K": "0.005", "LLM_PRICE_OUTPUT_PER_1K": "0.01", "LLM_MAX_TOKENS": "100",
                "CONTEXT_MAX_TOKENS": "200", "RETRIEVAL_TOP_K": "2",
                "LLM_TIMEOUT_SECONDS": "2", "GRACEFUL_TIMEOUT": "10",
            ].merging(environment) { $1 })
    }

    func redisValue(_ arguments: String...) throws -> String {
        try redis.cli(arguments).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A daily readable key in micro-USD (0 when absent).
    func spent(_ key: String) throws -> Int {
        Int(((Double(try redisValue("GET", key)) ?? 0) * 1_000_000).rounded())
    }

    func reservationsInFlight() throws -> Int {
        Int(try redisValue("HLEN", "ratelimit:cost:reservations")) ?? -1
    }

    /// Seconds from Redis's clock to 00:00 UTC, shifted by `offset` ms.
    func secondsToMidnight(offset: Int = 0) throws -> Int {
        let now = (Int(try redisValue("TIME").split(separator: "\n").first ?? "") ?? 0) + offset / 1000
        return 86_400 - now % 86_400
    }

    func query(_ token: String, port: Int) throws -> HTTPExchange {
        try HTTPExchange.request("POST", "/api/v1/assistant/query", port: port, body: #"{"query":"grace"}"#, headers: ["Authorization": "Bearer \(token)"])
    }

    @Test func fiftyParallelQueriesNeverSpendPastTheUsersBudget() throws {
        let appliance = try appliance(["USER_DAILY_COST_LIMIT": "0.01"])
        let token = try token("user1@example.com", "password123", port: appliance.port)
        let responses = try LimitTests.parallelQueries(50, token: token, port: appliance.port)
        let succeeded = responses.filter { $0.status == 200 }.count
        #expect(succeeded >= 1 && succeeded <= 4, "\(responses.map(\.status))")
        #expect(responses.allSatisfy { [200, 429].contains($0.status) }, "\(responses.map(\.status))")
        let midnight = try secondsToMidnight()
        for refused in responses where refused.status == 429 {
            #expect(abs((Int(refused.headers["retry-after"] ?? "") ?? 0) - midnight) <= 2, "Retry-After \(refused.headers["retry-after"] ?? "-") vs \(midnight) s to midnight")
            #expect((refused.json["detail"] as? String)?.hasPrefix("Daily cost limit reached: 0.01 USD per day") == true)
        }
        try waitUntil("every reservation is settled") { try reservationsInFlight() == 0 }
        let spent = try spent("ratelimit:cost:user:1:daily")
        #expect(spent == succeeded * Self.callCost && spent <= 10_000, "spent \(spent) micro-USD for \(succeeded) answers")
        #expect(try redisValue("GET", "ratelimit:cost:user:1:daily") == String(format: "%.6f", Double(spent) / 1_000_000))
        #expect(upstream.counters.requests == succeeded)
        let stats = try HTTPExchange.request("GET", "/api/v1/assistant/stats", port: appliance.port, headers: ["Authorization": "Bearer \(token)"])
        let cost = try #require((stats.json["data"] as? [String: Any])?["cost"] as? [String: Double])
        #expect(cost["limit"] == 0.01)
        #expect(abs((cost["today"] ?? 0) - Double(spent) / 1_000_000) < 1e-9)
        #expect(abs((cost["remaining"] ?? 0) - (0.01 - Double(spent) / 1_000_000)) < 1e-9)
    }

    @Test func theGlobalBudgetHoldsForTwoUsersOnTwoAppliancesSharingRedis() throws {
        let environment = ["GLOBAL_DAILY_COST_LIMIT": "0.01"]
        let first = try appliance(environment)
        let second = try appliance(environment)
        let tokens = try [(first, "user1@example.com"), (second, "user2@example.com")].map { try token($1, "password123", port: $0.port) }
        let pending = try [first, second].enumerated().flatMap { index, appliance in
            try (0..<25).map { _ in
                try PendingExchange(
                    HTTPExchange.requestText("POST", "/api/v1/assistant/query", port: appliance.port, body: #"{"query":"grace"}"#, headers: ["Authorization": "Bearer \(tokens[index])"]),
                    port: appliance.port)
            }
        }
        let responses = try pending.map { try $0.finish() }
        let succeeded = responses.filter { $0.status == 200 }.count
        #expect(succeeded >= 1 && responses.allSatisfy { [200, 503].contains($0.status) }, "\(responses.map(\.status))")
        #expect(responses.contains { ($0.json["detail"] as? String)?.contains("USD per day for all users") == true })
        try waitUntil("every reservation is settled") { try reservationsInFlight() == 0 }
        let global = try spent("ratelimit:cost:global:daily")
        #expect(global == succeeded * Self.callCost && global <= 10_000, "spent \(global) micro-USD for \(succeeded) answers")
        #expect(try spent("ratelimit:cost:user:1:daily") + spent("ratelimit:cost:user:2:daily") == global)
    }

    @Test func failedAndAbandonedCallsLeaveNoReservationBehind() throws {
        let appliance = try appliance([:])
        let token = try token("user1@example.com", "password123", port: appliance.port)

        upstream.behavior.mode = .status(500)
        #expect(try query(token, port: appliance.port).status == 502)
        try waitUntil("the 500 is settled") { try reservationsInFlight() == 0 }
        #expect(try spent("ratelimit:cost:user:1:daily") == 0, "an error status is not billed: refunded")

        upstream.behavior.mode = .hang
        var pending: PendingExchange? = try PendingExchange(
            HTTPExchange.requestText("POST", "/api/v1/assistant/query", port: appliance.port, body: #"{"query":"grace"}"#, headers: ["Authorization": "Bearer \(token)"]),
            port: appliance.port)
        try waitUntil("the call is in flight") { upstream.counters.inFlight == 1 }
        let reservation = try reservationAmounts().first ?? 0
        #expect(reservation > Self.callCost, "the worst case is reserved: \(reservation)")
        pending = nil  // the client goes away mid-call
        _ = pending
        try waitUntil("the abandoned call is settled", timeout: .seconds(1)) { try reservationsInFlight() == 0 }
        #expect(try spent("ratelimit:cost:user:1:daily") == reservation, "a call cut short may have been billed: charged its reservation")

        #expect(try query(token, port: appliance.port).status == 504)
        try waitUntil("the timed-out call is settled") { try reservationsInFlight() == 0 }
        #expect(try spent("ratelimit:cost:user:1:daily") == 2 * reservation)
        #expect(try redisValue("HGET", "ratelimit:cost:user:1:days", "\(try day()):reserved") == "0")
    }

    @Test func aKilledWorkersReservationsBecomeSpendWhenTheirLeasesExpire() throws {
        upstream.behavior.latency = .seconds(30)
        let appliance = try appliance(["CONCURRENCY_LEASE_SECONDS": "3", "LLM_TIMEOUT_SECONDS": "40", "GRACEFUL_TIMEOUT": "45", "USER_DAILY_COST_LIMIT": "0.01"])
        let token = try token("user1@example.com", "password123", port: appliance.port)
        let request = HTTPExchange.requestText("POST", "/api/v1/assistant/query", port: appliance.port, body: #"{"query":"grace"}"#, headers: ["Authorization": "Bearer \(token)"])
        let pending = try (0..<2).map { _ in try PendingExchange(request, port: appliance.port) }
        try waitUntil("2 calls are in flight") { upstream.counters.inFlight == 2 }
        let reserved = try reservationAmounts().reduce(0, +)
        let cli = try Appliance.baseEnvironment(databaseURL: appliance.databaseURL).merging(["REDIS_PORT": String(redis.port), "USER_DAILY_COST_LIMIT": "0.01"]) { $1 }
        let shown = try ProcessRunner.scribes(["limits", "show", "--user", "1"], environment: cli).standardOutput
        #expect(shown.components(separatedBy: "reservation in flight: ").count == 3, "\(shown)")
        #expect(shown.contains("cost today: 0.000000 of 0.010000 USD spent, \(String(format: "%.6f", Double(reserved) / 1_000_000)) reserved"), "\(shown)")
        for worker in appliance.workerPIDs() { kill(worker, SIGKILL) }
        try waitUntil("the leases expire and their reservations become spend", timeout: .seconds(6)) { try reservationsInFlight() == 0 }
        withExtendedLifetime(pending) {}
        #expect(try spent("ratelimit:cost:user:1:daily") == reserved)
        #expect(try redisValue("HGET", "ratelimit:cost:user:1:days", "\(try day()):reserved") == "0", "nothing stays reserved to reject later requests")
        upstream.behavior.latency = .zero
        try waitUntil("the workers are back", timeout: .seconds(5)) { appliance.logLines(containing: "worker ready").count >= 4 }
        #expect(try query(token, port: appliance.port).status == 200, "0.01 − \(reserved) µUSD still fits one more reservation")
    }

    @Test func bothBudgetsStartAfreshAtMidnightUTCAndACallAcrossItIsChargedToItsDay() throws {
        // Move the limiter's view of Redis time to 12 s before midnight UTC.
        let offset = (try secondsToMidnight() - 12) * 1000
        let appliance = try appliance([
            "USER_DAILY_COST_LIMIT": "0.005", "GLOBAL_DAILY_COST_LIMIT": "0.01", "SCRIBES_TEST_HOOKS": "limiter-clock-offset-ms:\(offset)",
            "LLM_TIMEOUT_SECONDS": "20", "GRACEFUL_TIMEOUT": "25",
        ])
        let tokens = try ["user1@example.com", "user2@example.com"].map { try token($0, "password123", port: appliance.port) }
        var statuses: [Int] = []
        while statuses.last != 429, statuses.count < 5 {
            // Settlements are delivered after the answers: the previous reservation must have become its real cost.
            try waitUntil("the previous query is settled") { try reservationsInFlight() == 0 }
            statuses.append(try query(tokens[0], port: appliance.port).status)
        }
        #expect(statuses == [200, 200, 429], "two answers fit in 0.005 USD")
        #expect(appliance.logLines(containing: "USER_DAILY_COST_LIMIT (0.005 USD) is below what one query can reserve").count == 1, "a 2000-character question reserves more")
        let refused = try query(tokens[0], port: appliance.port)
        let retryAfter = Int(refused.headers["retry-after"] ?? "") ?? 0
        #expect(retryAfter >= 1 && retryAfter <= 12, "seconds to the (moved) midnight: \(retryAfter)")

        upstream.behavior.latency = .seconds(8)  // user 2's call starts before midnight and ends after it
        let acrossMidnight = try PendingExchange(
            HTTPExchange.requestText("POST", "/api/v1/assistant/query", port: appliance.port, body: #"{"query":"grace"}"#, headers: ["Authorization": "Bearer \(tokens[1])"]),
            port: appliance.port)
        try waitUntil("user 2's call is in flight") { upstream.counters.inFlight == 1 }
        let admittedOn = try day(offset: offset)
        try waitUntil("the shifted day ends", timeout: .seconds(15)) { try day(offset: offset) == admittedOn + 1 }
        #expect(try redisValue("GET", "ratelimit:cost:user:1:daily").isEmpty, "yesterday's readable key expired at midnight")
        #expect(try acrossMidnight.finish().status == 200)
        try waitUntil("user 2's call is settled") { try reservationsInFlight() == 0 }
        #expect(try redisValue("HGET", "ratelimit:cost:user:2:days", "\(admittedOn):spent") == String(Self.callCost), "charged to the day of admission")
        #expect(try redisValue("GET", "ratelimit:cost:user:2:daily").isEmpty, "not to the new day")

        upstream.behavior.latency = .milliseconds(200)
        #expect(try query(tokens[0], port: appliance.port).status == 200, "user 1's budget starts afresh")
        try waitUntil("the new day's answer is settled") { try reservationsInFlight() == 0 }
        #expect(try spent("ratelimit:cost:user:1:daily") == Self.callCost)
        #expect(try spent("ratelimit:cost:global:daily") == Self.callCost)
    }

    @Test func withRedisDownEachWorkerSpendsAtMostItsFailOpenBudgetThenRedisGetsTheSpend() throws {
        // A reservation is ~0.0027 and a call 0.002075: 0.006 allows two calls per worker.
        let appliance = try appliance(["FAILOPEN_COST_USD_PER_WORKER": "0.006", "RATE_LIMIT_TIMEOUT_MS": "50"])
        let token = try token("user1@example.com", "password123", port: appliance.port)
        try redis.stop()
        let responses = try (0..<20).map { _ in try query(token, port: appliance.port) }
        let succeeded = responses.filter { $0.status == 200 }.count
        #expect(succeeded >= 2 && succeeded <= 4, "two paid calls per worker: \(responses.map(\.status))")
        #expect(upstream.counters.requests == succeeded)
        let refused = responses.filter { $0.status != 200 }
        #expect(refused.count == 20 - succeeded && refused.allSatisfy { $0.status == 503 && ($0.json["detail"] as? String)?.hasPrefix("Paid answers are paused") == true })
        try redis.start()
        try waitUntil("the fail-open spend reaches Redis", timeout: .seconds(5)) { try spent("ratelimit:cost:user:1:daily") == succeeded * Self.callCost }
        #expect(try spent("ratelimit:cost:global:daily") == succeeded * Self.callCost)
        #expect(try query(token, port: appliance.port).status == 200, "limiting through Redis again")
    }

    @Test func theLocalProviderReservesNothing() throws {
        let appliance = try appliance(["LLM_PROVIDER": "local", "USER_DAILY_COST_LIMIT": "0"])
        let token = try token("user1@example.com", "password123", port: appliance.port)
        let response = try query(token, port: appliance.port)
        #expect(response.status == 200, "a free provider is never stopped by a budget: \(response.body)")
        #expect((response.json["metadata"] as? [String: Any])?["api_cost_usd"] as? Double == 0)
    }

    /// The micro-USD of each reservation in flight.
    func reservationAmounts() throws -> [Int] {
        try redisValue("HVALS", "ratelimit:cost:reservations").split(separator: "\n").compactMap { Int($0.split(separator: " ").last ?? "") }
    }

    /// Today's number (days since 1970, UTC) on Redis's clock, shifted by `offset` ms.
    func day(offset: Int = 0) throws -> Int {
        ((Int(try redisValue("TIME").split(separator: "\n").first ?? "") ?? 0) + offset / 1000) / 86_400
    }
}
