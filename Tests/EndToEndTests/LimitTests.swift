import Foundation
import Testing
import TestSupport

/// Rate limits, the global hourly limit and concurrency leases, through the
/// real binary with two workers, each test on a Redis of its own.
@Suite struct LimitTests {
    static let users = Dictionary(uniqueKeysWithValues: (1...20).map { ("user\($0)@example.com", "password123") })

    let redis: PrivateRedis
    let upstream: FakeUpstream

    init() throws {
        redis = try PrivateRedis()
        upstream = try FakeUpstream()
    }

    func appliance(_ environment: [String: String?], users: [String: String] = LimitTests.users, serveEnvironment: [String: String] = [:]) throws -> Appliance {
        try Appliance(
            library: try UpstreamTests.library.get(), users: users,
            environment: [
                "WORKERS": "2", "RATE_LIMITING_ENABLED": "true", "REDIS_PORT": String(redis.port),
                "LLM_PROVIDER": "openai", "LLM_BASE_URL": upstream.baseURL, "LLM_MODEL": "fake-model",
                "LLM_PRICE_INPUT_PER_1K": "0.5", "LLM_PRICE_OUTPUT_PER_1K": "1.5", "LLM_TIMEOUT_SECONDS": "20", "GRACEFUL_TIMEOUT": "25",
                // Budgets out of the way (BudgetTests has them): a reservation here is ~1.6 USD.
                "USER_DAILY_COST_LIMIT": "100000", "GLOBAL_DAILY_COST_LIMIT": "100000", "FAILOPEN_COST_USD_PER_WORKER": "100000",
            ].merging(environment) { $1 },
            serveEnvironment: serveEnvironment)
    }

    /// A redis-cli answer without its newline.
    func redisValue(_ arguments: String...) throws -> String {
        try redis.cli(arguments).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Sends `count` queries at once (each on its own connection) and collects the answers.
    static func parallelQueries(_ count: Int, token: String, port: Int) throws -> [HTTPExchange] {
        let request = HTTPExchange.requestText("POST", "/api/v1/assistant/query", port: port, body: #"{"query":"grace"}"#, headers: ["Authorization": "Bearer \(token)"])
        let pending = try (0..<count).map { _ in try PendingExchange(request, port: port) }
        return try pending.map { try $0.finish() }
    }

    @Test func tenPerMinuteAdmitsExactlyTenOfElevenParallelRequestsEveryRound() throws {
        let appliance = try appliance(["RATE_LIMIT_PER_MINUTE": "10"])
        for round in 1...20 {
            let token = try token("user\(round)@example.com", "password123", port: appliance.port)
            let responses = try Self.parallelQueries(11, token: token, port: appliance.port)
            let statuses = responses.map(\.status)
            #expect(statuses.filter { $0 == 200 }.count == 10 && statuses.filter { $0 == 429 }.count == 1, "round \(round): \(statuses)")
            let refused = try #require(responses.first { $0.status == 429 })
            #expect((1...60).contains(Int(refused.headers["retry-after"] ?? "") ?? 0))
            #expect(refused.json["detail"] as? String == "Rate limit exceeded: 10 requests per minute")
            for response in responses {
                #expect(response.headers["ratelimit-policy"]?.contains(#""minute";q=10;w=60"#) == true)
                #expect(response.headers["ratelimit"]?.hasPrefix(#""minute";r="#) == true)
            }
        }
        #expect(try redisValue("ZCARD", "ratelimit:user:1:minute") == "10")
        // The windows hold Redis's clock (the script reads TIME): the appliance's clock plays no part.
        let redisNow = Double(try redisValue("TIME").split(separator: "\n").first ?? "") ?? 0
        let scores = try redisValue("ZRANGE", "ratelimit:user:1:minute", "0", "-1", "WITHSCORES").split(separator: "\n").enumerated()
            .filter { $0.offset % 2 == 1 }.compactMap { Double($0.element) }
        #expect(scores.count == 10 && scores.allSatisfy { abs($0 / 1000 - redisNow) < 60 }, "scores \(scores) vs Redis time \(redisNow)")
    }

    /// The wall clock of the supervisor and its workers moved by an hour
    /// either way (an LD_PRELOAD library; monotonic clocks and timers untouched).
    @Test(arguments: [3600, -3600])
    func anApplianceClockSkewedByAnHourChangesNothing(skew: Int) throws {
        let appliance = try appliance(
            ["RATE_LIMIT_PER_MINUTE": "10"], users: Self.users.filter { ["user1@example.com", "user2@example.com", "user3@example.com"].contains($0.key) },
            serveEnvironment: ["LD_PRELOAD": try WallClockSkew.library(), WallClockSkew.variable: String(skew)])
        // The log's timestamps come from the appliance's wall clock.
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ss.SSSX"
        let ready = try #require(appliance.logLines(containing: "worker ready").first)
        let applianceNow = try #require(formatter.date(from: LoggingTests.fields(ready)["time"] ?? ""), "\(ready)")
        #expect(abs(applianceNow.timeIntervalSinceNow - Double(skew)) < 60, "the appliance's clock is off by \(skew) s: \(ready)")

        for round in 1...3 {
            let token = try token("user\(round)@example.com", "password123", port: appliance.port)
            let responses = try Self.parallelQueries(11, token: token, port: appliance.port)
            let statuses = responses.map(\.status)
            #expect(statuses.filter { $0 == 200 }.count == 10 && statuses.filter { $0 == 429 }.count == 1, "round \(round): \(statuses)")
            let retryAfter = Int(responses.first { $0.status == 429 }?.headers["retry-after"] ?? "") ?? 0
            #expect((1...60).contains(retryAfter), "Retry-After from Redis time: \(retryAfter)")
        }
        let redisNow = Double(try redisValue("TIME").split(separator: "\n").first ?? "") ?? 0
        for user in 1...3 {
            let scores = try redisValue("ZRANGE", "ratelimit:user:\(user):minute", "0", "-1", "WITHSCORES").split(separator: "\n").enumerated()
                .filter { $0.offset % 2 == 1 }.compactMap { Double($0.element) }
            #expect(scores.count == 10 && scores.allSatisfy { abs($0 / 1000 - redisNow) < 60 }, "windows on Redis time, not the skewed clock: \(scores) vs \(redisNow)")
        }
        let stats = try HTTPExchange.request("GET", "/api/v1/assistant/stats", port: appliance.port, headers: ["Authorization": "Bearer \(try token("user1@example.com", "password123", port: appliance.port))"])
        #expect(((stats.json["data"] as? [String: Any])?["limits"] as? [String: Any])?["minute"] as? [String: Int] == ["current": 10, "limit": 10, "remaining": 0])
        #expect(appliance.terminate().seconds < 5, "timers run on the monotonic clock: a prompt shutdown")
    }

    @Test func atMostTheConcurrencyLimitReachesTheUpstreamAndTheRestGet503() throws {
        upstream.behavior.latency = .seconds(2)
        let appliance = try appliance(["GLOBAL_CONCURRENT_LIMIT": "5", "RATE_LIMIT_PER_MINUTE": "100"])
        let token = try token("user1@example.com", "password123", port: appliance.port)
        let statuses = try Self.parallelQueries(20, token: token, port: appliance.port).map(\.status)
        #expect(statuses.filter { $0 == 200 }.count == 5, "\(statuses)")
        #expect(statuses.filter { $0 == 503 }.count == 15)
        #expect(upstream.counters.maxInFlight <= 5)
        try waitUntil("the slots are released") { try redisValue("GET", "ratelimit:global:concurrent") == "0" }
    }

    @Test func twoAppliancesOnOneRedisShareTheGlobalLimits() throws {
        upstream.behavior.latency = .seconds(2)
        let environment = ["GLOBAL_CONCURRENT_LIMIT": "3", "GLOBAL_HOURLY_LIMIT": "8", "RATE_LIMIT_PER_MINUTE": "100"]
        let first = try appliance(environment, users: ["user1@example.com": "password123"])
        let second = try appliance(environment, users: ["user1@example.com": "password123"])
        let tokens = try [first, second].map { try token("user1@example.com", "password123", port: $0.port) }
        let requests = [first, second].enumerated().flatMap { index, appliance in
            (0..<5).map { _ in
                (appliance.port, HTTPExchange.requestText("POST", "/api/v1/assistant/query", port: appliance.port, body: #"{"query":"grace"}"#, headers: ["Authorization": "Bearer \(tokens[index])"]))
            }
        }
        let pending = try requests.map { try PendingExchange($0.1, port: $0.0) }
        let statuses = try pending.map { try $0.finish().status }
        #expect(statuses.filter { $0 == 200 }.count == 3, "one concurrency limit for both: \(statuses)")
        #expect(upstream.counters.maxInFlight <= 3)

        upstream.behavior.latency = .zero
        // Releases are delivered after the answers (settlement never makes a request wait).
        try waitUntil("the three leases are released") { try redisValue("GET", "ratelimit:global:concurrent") == "0" }
        var more: [Int] = []
        for index in 0..<8 {
            let appliance = [first, second][index % 2]
            more.append(try HTTPExchange.request("POST", "/api/v1/assistant/query", port: appliance.port, body: #"{"query":"grace"}"#, headers: ["Authorization": "Bearer \(tokens[index % 2])"]).status)
        }
        #expect(more == [200, 200, 200, 200, 200, 503, 503, 503], "one hourly limit of 8 for both")
    }

    @Test func aKilledWorkersSlotsComeBackByThemselves() throws {
        upstream.behavior.latency = .seconds(30)
        let appliance = try appliance(["GLOBAL_CONCURRENT_LIMIT": "4", "CONCURRENCY_LEASE_SECONDS": "3", "RATE_LIMIT_PER_MINUTE": "100", "LLM_TIMEOUT_SECONDS": "40", "GRACEFUL_TIMEOUT": "45"])
        let token = try token("user1@example.com", "password123", port: appliance.port)
        let request = HTTPExchange.requestText("POST", "/api/v1/assistant/query", port: appliance.port, body: #"{"query":"grace"}"#, headers: ["Authorization": "Bearer \(token)"])
        let pending = try (0..<4).map { _ in try PendingExchange(request, port: appliance.port) }
        try waitUntil("4 calls are in flight") { upstream.counters.inFlight == 4 }
        #expect(try redisValue("GET", "ratelimit:global:concurrent") == "4")
        for worker in appliance.workerPIDs() { kill(worker, SIGKILL) }
        let killedAt = Date()
        try waitUntil("the leases expire and are swept", timeout: .seconds(6)) { try redisValue("GET", "ratelimit:global:concurrent") == "0" }
        #expect(Date().timeIntervalSince(killedAt) <= 3 + 2)
        withExtendedLifetime(pending) {}
        upstream.behavior.latency = .zero
        try waitUntil("the workers are back", timeout: .seconds(5)) { appliance.logLines(containing: "worker ready").count >= 4 }
        let statuses = try Self.parallelQueries(4, token: token, port: appliance.port).map(\.status)
        #expect(statuses == [200, 200, 200, 200], "a full quota after the sweep")
    }

    @Test func aThirtySecondCallKeepsItsLeaseSoTheLimitHolds() throws {
        upstream.behavior.latency = .seconds(30)
        let appliance = try appliance(["GLOBAL_CONCURRENT_LIMIT": "1", "CONCURRENCY_LEASE_SECONDS": "3", "RATE_LIMIT_PER_MINUTE": "100", "LLM_TIMEOUT_SECONDS": "40", "GRACEFUL_TIMEOUT": "45"])
        let token = try token("user1@example.com", "password123", port: appliance.port)
        let long = try PendingExchange(
            HTTPExchange.requestText("POST", "/api/v1/assistant/query", port: appliance.port, body: #"{"query":"grace"}"#, headers: ["Authorization": "Bearer \(token)"]),
            port: appliance.port)
        try waitUntil("the long call is in flight") { upstream.counters.inFlight == 1 }
        var refusals: [Int] = []
        for _ in 0..<13 {  // 26 s: over eight times the 3 s lease, which renewal keeps alive
            sleep(2)
            refusals.append(try HTTPExchange.request("POST", "/api/v1/assistant/query", port: appliance.port, body: #"{"query":"grace"}"#, headers: ["Authorization": "Bearer \(token)"]).status)
        }
        #expect(refusals.allSatisfy { $0 == 503 }, "\(refusals)")
        #expect(try long.finish().status == 200)
        #expect(upstream.counters.maxInFlight == 1)
    }

    @Test func redisDownFailsOpenWithOneWarningThenExactLimitingResumes() throws {
        let appliance = try appliance(["RATE_LIMIT_PER_MINUTE": "10", "RATE_LIMIT_TIMEOUT_MS": "50"])
        let token = try token("user1@example.com", "password123", port: appliance.port)
        try redis.stop()
        var statuses: [Int] = []
        for _ in 0..<30 {
            statuses.append(try HTTPExchange.request("POST", "/api/v1/assistant/query", port: appliance.port, body: #"{"query":"grace"}"#, headers: ["Authorization": "Bearer \(token)"]).status)
        }
        #expect(statuses.allSatisfy { $0 == 200 || $0 == 429 }, "no 5xx from the limiter: \(statuses)")
        #expect(statuses.filter { $0 == 200 }.count <= 20, "each worker still limits in memory: \(statuses)")
        #expect((1...2).contains(appliance.logLines(containing: "Rate limit check failed").count), "one warning per worker per 10 s")
        #expect(try HTTPExchange.request("GET", "/api/v1/assistant/health", port: appliance.port).json["status"] as? String == "degraded")
        let metrics = try HTTPExchange.request("GET", "/metrics", port: appliance.port).body
        #expect(metrics.contains(#"scribes_ratelimit_decisions_total{result="admitted_fail_open"}"#))

        try redis.start()
        // Twenty healthy answers in a row, on twenty connections the kernel spreads over both workers: each has its Redis back.
        try waitUntil("both workers reach Redis again") {
            try (0..<20).allSatisfy { _ in try HTTPExchange.request("GET", "/api/v1/assistant/health", port: appliance.port).json["status"] as? String == "healthy" }
        }
        let fresh = try EndToEndTests.token("user2@example.com", "password123", port: appliance.port)
        let again = try Self.parallelQueries(11, token: fresh, port: appliance.port).map(\.status)
        #expect(again.filter { $0 == 200 }.count == 10 && again.filter { $0 == 429 }.count == 1, "exact again: \(again)")
    }

    @Test func statsReportsTheWindowsWithoutCountingAndTheCLIShowsAndResets() throws {
        let appliance = try appliance(["RATE_LIMIT_PER_MINUTE": "10"], users: ["user1@example.com": "password123"])
        let token = try token("user1@example.com", "password123", port: appliance.port)
        _ = try Self.parallelQueries(3, token: token, port: appliance.port)
        try waitUntil("the answers are settled") { try redisValue("HLEN", "ratelimit:cost:reservations") == "0" }
        for _ in 0..<2 {
            let stats = try HTTPExchange.request("GET", "/api/v1/assistant/stats", port: appliance.port, headers: ["Authorization": "Bearer \(token)"])
            #expect(stats.status == 200)
            #expect(stats.json["status"] as? String == "success")
            let data = try #require(stats.json["data"] as? [String: Any])
            #expect(data["user_id"] as? Int == 1)
            let minute = try #require((data["limits"] as? [String: Any])?["minute"] as? [String: Int])
            #expect(minute == ["current": 3, "limit": 10, "remaining": 7])
            let cost = try #require(data["cost"] as? [String: Double])
            #expect(abs((cost["today"] ?? 0) - 3 * 0.231) < 1e-9, "three answers of (321 × 0.5 + 47 × 1.5) / 1000 USD: \(cost)")
        }
        let environment = try Appliance.baseEnvironment(databaseURL: appliance.databaseURL).merging(["REDIS_PORT": String(redis.port), "RATE_LIMIT_PER_MINUTE": "10"]) { $1 }
        let shown = try ProcessRunner.scribes(["limits", "show", "--user", "1"], environment: environment)
        #expect(shown.status == 0)
        #expect(shown.standardOutput.contains("minute: 3 of 10 (7 left)"))
        #expect(shown.standardOutput.contains("cost today: 0.693000 of 5.000000 USD spent, 0.000000 reserved"), "\(shown.standardOutput)")
        #expect(try ProcessRunner.scribes(["limits", "reset", "--user", "1"], environment: environment).status == 0)
        #expect(try ProcessRunner.scribes(["limits", "show", "--user", "1"], environment: environment).standardOutput.contains("minute: 0 of 10"))
    }

    /// Redis stalled (SIGSTOP) for 3 s under load: admissions time out on the
    /// client (the workers fail open) but reach Redis when it resumes. Their
    /// releases are retried until Redis has them, and an admission released
    /// before it ran admits nothing, so no lease outlives its request.
    @Test func aRedisStallLeavesNoPhantomLeasesAndRefusesNothingForConcurrency() throws {
        let appliance = try appliance(
            ["GLOBAL_CONCURRENT_LIMIT": "100", "RATE_LIMIT_PER_MINUTE": "1000000", "RATE_LIMIT_PER_HOUR": "1000000", "RATE_LIMIT_PER_DAY": "1000000", "GLOBAL_HOURLY_LIMIT": "1000000"],
            users: ["user1@example.com": "password123"])
        let token = try token("user1@example.com", "password123", port: appliance.port)
        let script = appliance.directory + "/query.lua"
        try """
            wrk.method = "POST"
            wrk.body = '{"query": "grace"}'
            wrk.headers["Content-Type"] = "application/json"
            wrk.headers["Authorization"] = "Bearer \(token)"
            response = function(status, headers, body) if status ~= 200 then io.write(status .. " " .. body .. "\\n") end end
            """.write(toFile: script, atomically: true, encoding: .utf8)
        let wrkLog = appliance.directory + "/wrk.txt"
        let wrk = try ProcessRunner.spawn("/usr/bin/wrk", ["-t2", "-c32", "-d14s", "-s", script, "\(appliance.baseURL)/api/v1/assistant/query"], logPath: wrkLog)
        let redisPID = try #require(Int32(try String(contentsOfFile: redis.directory + "/redis.pid", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        defer { kill(redisPID, SIGCONT) }
        sleep(3)
        kill(redisPID, SIGSTOP)
        sleep(3)
        kill(redisPID, SIGCONT)
        // 32 connections: never more requests in flight than that, plus the few
        // answered whose settlements are on their way (measured: up to 24 more on this 2-core machine).
        try waitUntil("the leases are back to the requests in flight", timeout: .seconds(2)) { (Int(try redisValue("GET", "ratelimit:global:concurrent")) ?? 999) <= 64 }
        for _ in 0..<10 {
            let inFlight = Int(try redisValue("GET", "ratelimit:global:concurrent")) ?? 999
            #expect(inFlight <= 64, "\(inFlight) leases for 32 connections")
            usleep(300_000)
        }
        var status: Int32 = 0
        waitpid(wrk, &status, 0)
        let report = try String(contentsOfFile: wrkLog, encoding: .utf8)
        #expect(report.contains("requests in"), "wrk did not run: \(report)")
        #expect(!report.contains("Non-2xx"), "a query was refused: \(report)")
        #expect(appliance.logLines(containing: "Rate limit check failed").count >= 1, "the stall was not noticed: no admission timed out")
        try waitUntil("every lease is released after the load", timeout: .seconds(5)) { try redisValue("GET", "ratelimit:global:concurrent") == "0" }
    }
}
