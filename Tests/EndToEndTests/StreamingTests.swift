import Foundation
import Testing
import TestSupport

/// Streamed answers (`Accept: text/event-stream`) through the real binary
/// with two workers, against a fake upstream streaming OpenAI's chunks: the
/// pieces arrive as the upstream produces them, and every way a stream can
/// end charges what docs/limits.md says, with nothing left held.
@Suite struct StreamingTests {
    /// A reservation for the sizes of ``BudgetTests``: 0.0027 USD at most.
    let redis: PrivateRedis
    let upstream: FakeUpstream

    init() throws {
        redis = try PrivateRedis()
        upstream = try FakeUpstream()
        upstream.behavior.latency = .milliseconds(200)
        upstream.behavior.streaming.chunkGap = .milliseconds(100)
        upstream.behavior.answer = "Grace is the favour of God given freely [1] to all who ask."
    }

    func appliance(_ environment: [String: String?] = [:], arguments: [String] = []) throws -> (Appliance, String) {
        let appliance = try Appliance(
            library: try UpstreamTests.library.get(), users: ["user1@example.com": "password123"],
            environment: [
                "WORKERS": "2", "RATE_LIMITING_ENABLED": "true", "REDIS_PORT": String(redis.port),
                "RATE_LIMIT_PER_MINUTE": "1000", "RATE_LIMIT_PER_HOUR": "1000", "RATE_LIMIT_PER_DAY": "1000",
                "LLM_PROVIDER": "openai", "LLM_BASE_URL": upstream.baseURL, "LLM_MODEL": "fake-model",
                "LLM_PRICE_INPUT_PER_1K": "0.005", "LLM_PRICE_OUTPUT_PER_1K": "0.01", "LLM_MAX_TOKENS": "100",
                "CONTEXT_MAX_TOKENS": "200", "RETRIEVAL_TOP_K": "2", "LLM_TIMEOUT_SECONDS": "5", "CACHE_ENABLED": "false",
            ].merging(environment) { $1 },
            arguments: arguments)
        return (appliance, try token("user1@example.com", "password123", port: appliance.port))
    }

    func redisValue(_ arguments: String...) throws -> String {
        try redis.cli(arguments).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The user's settled spend today in micro-USD (the readable key).
    func spent() throws -> Int {
        Int(((Double(try redisValue("GET", "ratelimit:cost:user:1:daily")) ?? 0) * 1_000_000).rounded())
    }

    /// Waits until no lease and no reservation is held.
    func expectNothingHeld() throws {
        try waitUntil("every lease and reservation is given back") {
            try redisValue("HLEN", "ratelimit:cost:reservations") == "0" && redisValue("ZCARD", "ratelimit:global:leases") == "0"
        }
    }

    @Test func piecesReachTheClientBeforeTheUpstreamHasFinished() throws {
        let (appliance, token) = try appliance()
        let client = try EventStreamClient(port: appliance.port, token: token)
        #expect(client.read(until: "event: end"))
        let response = try client.exchange
        #expect(response.status == 200)
        #expect(response.headers["content-type"] == "text/event-stream")
        #expect(response.headers["cache-control"] == "no-cache" && response.headers["x-accel-buffering"] == "no")
        let events = try client.events
        #expect(events.first?.name == "sources" && events.suffix(2).map(\.name) == ["metadata", "end"], "\(events.map(\.name))")
        let pieces = events.filter { $0.name == "text" }.compactMap { $0.json["text"] as? String }
        #expect(pieces.count == upstream.behavior.answer.split(separator: " ").count, "one piece per upstream chunk")
        #expect(pieces.joined() == upstream.behavior.answer)
        // 13 chunks 100 ms apart: the first piece comes > 1 s before the end.
        let first = try #require(client.arrival(of: "event: text")), end = try #require(client.arrival(of: "event: end"))
        #expect(end - first > .milliseconds(800), "first piece \(first), end \(end)")
        let metadata = try #require(events.first { $0.name == "metadata" }?.json)
        #expect(metadata["api_cost_usd"] as? Double == 0.002075 && metadata["cost_estimated"] as? Bool == false && metadata["cached"] as? Bool == false)
        #expect(upstream.counters.streamed == 1)
        try expectNothingHeld()
        #expect(try spent() == 2075, "the usage chunk's cost, exactly")
        let bodyBytes = try response.body.utf8.count
        try waitUntil("the stream's one access line, at its end") {
            appliance.log.split(separator: "\n").filter { $0.contains("route=/api/v1/assistant/query") }.count == 1
        }
        let line = try #require(appliance.log.split(separator: "\n").first { $0.contains("route=/api/v1/assistant/query") })
        #expect(line.contains("stream=end") && line.contains("bytes=\(bodyBytes) "), "\(line)")
        let milliseconds = Double(line.split(separator: " ").first { $0.hasPrefix("duration_ms=") }?.dropFirst(12) ?? "") ?? 0
        #expect(milliseconds > 1000, "the whole stream's duration: \(line)")
    }

    @Test(arguments: [FakeUpstream.Streaming.Usage.onLastChoice, .none])
    func usageWhereverItComesOrNoneAtAll(_ usage: FakeUpstream.Streaming.Usage) throws {
        upstream.behavior.streaming.usage = usage
        upstream.behavior.streaming.chunkGap = .milliseconds(5)
        let (appliance, token) = try appliance()
        let client = try EventStreamClient(port: appliance.port, token: token)
        #expect(client.read(until: "event: end"))
        let metadata = try #require(try client.events.first { $0.name == "metadata" }?.json)
        try expectNothingHeld()
        if usage == .none {
            #expect(metadata["cost_estimated"] as? Bool == true)
            let charged = Int(((metadata["api_cost_usd"] as? Double ?? 0) * 1_000_000).rounded())
            let spent = try spent()
            #expect(charged > 2075 && spent == charged, "without usage the reservation is charged: \(charged)")
        } else {
            let spent = try spent()
            #expect(metadata["cost_estimated"] as? Bool == false && spent == 2075)
        }
    }

    @Test func aClientThatLeavesMidStreamCutsTheUpstreamAndPaysTheReservation() throws {
        let (appliance, token) = try appliance()
        let client = try EventStreamClient(port: appliance.port, token: token)
        #expect(client.read(until: "event: text"))
        let left = ContinuousClock.now
        client.close()
        try waitUntil("the upstream sees its connection closed", timeout: .seconds(2)) { upstream.counters.abandoned == 1 }
        #expect(ContinuousClock.now - left < .milliseconds(400), "noticed and cut at once")
        try expectNothingHeld()
        let reserved = try spent()
        #expect(reserved > 2075, "a stream whose client left is charged its reservation: \(reserved)")
    }

    @Test(arguments: [FakeUpstream.Streaming.Fault.cutAfter(3), .garbageAfter(3)])
    func anUpstreamFailureMidStreamEndsItWithAnErrorEvent(_ fault: FakeUpstream.Streaming.Fault) throws {
        upstream.behavior.streaming.fault = fault
        let (appliance, token) = try appliance()
        let client = try EventStreamClient(port: appliance.port, token: token)
        #expect(client.read(until: "event: error"))
        client.read()
        let events = try client.events
        #expect(events.filter { $0.name == "text" }.count == 3)
        #expect(events.last?.name == "error" && (events.last?.json["detail"] as? String)?.isEmpty == false, "\(events)")
        try expectNothingHeld()
        #expect(try spent() > 2075, "a call cut after it began may have been billed: the reservation")
    }

    @Test func aRefusalBeforeTheFirstByteIsAnOrdinaryJSONError() throws {
        let (appliance, token) = try appliance(["RATE_LIMIT_PER_MINUTE": "1"])
        let first = try EventStreamClient(port: appliance.port, token: token)
        #expect(first.read(until: "event: end"))

        let second = try EventStreamClient(port: appliance.port, token: token)
        second.read()
        let refused = try second.exchange
        #expect(refused.status == 429 && refused.headers["content-type"] == "application/json" && refused.headers["retry-after"] != nil)
        #expect((refused.json["detail"] as? String)?.isEmpty == false)
    }

    @Test func aStoredAnswerReplaysAsAStreamAndAStreamedOneIsServedAsJSON() throws {
        let (appliance, token) = try appliance(["CACHE_ENABLED": "true"])
        let streamed = try EventStreamClient(port: appliance.port, token: token, body: #"{"query":"grace","stream":true}"#)
        #expect(streamed.read(until: "event: end"))
        let json = try HTTPExchange.request("POST", "/api/v1/assistant/query", port: appliance.port, body: #"{"query":"grace"}"#, headers: ["Authorization": "Bearer \(token)"])
        #expect(json.status == 200 && json.json["answer"] as? String == upstream.behavior.answer)
        #expect((json.json["metadata"] as? [String: Any])?["cached"] as? Bool == true, "what a stream stored is a hit for JSON")
        let replay = try EventStreamClient(port: appliance.port, token: token)
        #expect(replay.read(until: "event: end"))
        let events = try replay.events
        #expect(events.map(\.name) == ["sources", "text", "metadata", "end"])
        #expect(events[1].json["text"] as? String == upstream.behavior.answer)
        #expect(events[0].json["sources"] as? [[String: Any]] != nil)
        #expect(events[2].json["cached"] as? Bool == true && events[2].json["api_cost_usd"] as? Double == 0)
        #expect(upstream.counters.requests == 1)
    }

    @Test func fiftyParallelStreamsAtABudgetForTwoAnswerExactlyTwo() throws {
        upstream.behavior.streaming.chunkGap = .milliseconds(5)
        // A reservation is ~0.0027 USD: 0.006 admits two at once and no third.
        let (appliance, token) = try appliance(["USER_DAILY_COST_LIMIT": "0.006"])
        let clients = try (0..<50).map { _ in try EventStreamClient(port: appliance.port, token: token) }
        for client in clients { client.read() }
        let answered = try clients.filter { try $0.events.last?.name == "end" }.count
        let refused = try clients.filter { try $0.exchange.status == 429 }.count
        #expect(answered == 2 && refused == 48, "answered \(answered), refused \(refused)")
        try expectNothingHeld()
        #expect(try spent() == 2 * 2075 && upstream.counters.streamed == 2, "spent = the two answers' usage, exactly")
    }

    @Test func aStopWithStreamsInFlightLetsEveryOneFinish() throws {
        let (appliance, token) = try appliance(["GRACEFUL_TIMEOUT": "15"])
        let clients = try (0..<6).map { _ in try EventStreamClient(port: appliance.port, token: token) }
        for client in clients { #expect(client.read(until: "event: text")) }
        let (status, _) = appliance.terminate()
        for client in clients { client.read() }
        #expect(status == 0)
        for client in clients {
            let events = try client.events
            #expect(events.last?.name == "end", "\(events.map(\.name))")
            #expect(events.filter { $0.name == "text" }.compactMap { $0.json["text"] as? String }.joined() == upstream.behavior.answer)
        }
        try expectNothingHeld()
        #expect(try spent() == 6 * 2075)
    }

    @Test func aReloadWithStreamsInFlightCutsNone() throws {
        let (appliance, token) = try appliance(["GRACEFUL_TIMEOUT": "15"], arguments: ["--env-file", try OperationsTests.envFile(["WORKER_TIMEOUT=30"])])
        let workers = appliance.workerPIDs()
        let clients = try (0..<6).map { _ in try EventStreamClient(port: appliance.port, token: token) }
        for client in clients { #expect(client.read(until: "event: text")) }
        kill(appliance.pid, SIGHUP)
        for client in clients { client.read() }
        for client in clients {
            let events = try client.events
            #expect(events.last?.name == "end", "\(events.map(\.name))")
            #expect(events.filter { $0.name == "text" }.compactMap { $0.json["text"] as? String }.joined() == upstream.behavior.answer)
        }
        try waitUntil("the reload finishes") { appliance.logLines(containing: "reload finished").count == 1 }
        for client in clients { client.close() }
        try waitUntil("the drained workers exit once their clients have left") { Set(appliance.workerPIDs()).isDisjoint(with: workers) }
        try expectNothingHeld()
        #expect(try spent() == 6 * 2075)
    }

    @Test func anUpstreamSilentPastTheIdleTimeoutEndsTheStreamWithAnError() throws {
        upstream.behavior.streaming.fault = .hangAfter(2)
        let (appliance, token) = try appliance(["LLM_STREAM_IDLE_TIMEOUT_SECONDS": "1", "LLM_TIMEOUT_SECONDS": "8"])
        let client = try EventStreamClient(port: appliance.port, token: token)
        #expect(client.read(until: "event: text"))
        let silent = ContinuousClock.now
        #expect(client.read(until: "event: error", timeout: .seconds(6)))
        #expect(ContinuousClock.now - silent < .seconds(4), "cut by the idle timeout (1 s, checked each second), not the whole call's 8 s")
        try expectNothingHeld()
        #expect(try spent() > 2075, "the reservation")
    }

    @Test func identicalConcurrentStreamedMissesMakeOneUpstreamCall() throws {
        let (appliance, token) = try appliance(["CACHE_ENABLED": "true"])
        let clients = try (0..<10).map { _ in try EventStreamClient(port: appliance.port, token: token) }
        for client in clients { client.read() }
        #expect(upstream.counters.requests == 1)
        for client in clients {
            let events = try client.events
            #expect(events.last?.name == "end", "\(events.map(\.name))")
            #expect(events.filter { $0.name == "text" }.compactMap { $0.json["text"] as? String }.joined() == upstream.behavior.answer)
        }
        try expectNothingHeld()
        #expect(try spent() == 2075, "one call paid, nine coalesced at cost 0")
    }

    /// A process's resident memory in kB (`VmRSS`).
    static func residentKB(_ pid: pid_t) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    /// `count` clients that ask for a stream and vanish: half at once, half after the first piece.
    static func vanish(_ count: Int, port: Int, token: String) throws {
        for _ in 0..<(count / 100) {
            let clients = try (0..<100).map { _ in try EventStreamClient(port: port, token: token) }
            for client in clients.prefix(50) { client.read(until: "event: text", timeout: .seconds(5)) }
            for client in clients { client.close() }
        }
    }

    @Test func clientsThatVanishOrNeverReadLeaveNothingBehind() throws {
        upstream.behavior.latency = .milliseconds(50)
        upstream.behavior.streaming.chunkGap = .milliseconds(10)
        let (appliance, token) = try appliance([
            "GLOBAL_CONCURRENT_LIMIT": "1000", "GLOBAL_HOURLY_LIMIT": "100000", "RATE_LIMIT_PER_MINUTE": "100000", "RATE_LIMIT_PER_HOUR": "100000", "RATE_LIMIT_PER_DAY": "100000",
            "USER_DAILY_COST_LIMIT": "1000", "GLOBAL_DAILY_COST_LIMIT": "1000",  // each client that left after the sources paid its reservation
        ])
        let workers = appliance.workerPIDs()
        // The first burst raises the workers' memory to its high-water mark
        // (measured: 49 → 55 MB per worker, the allocator keeping what 100
        // connections at once took); later bursts must not add to it.
        try Self.vanish(500, port: appliance.port, token: token)
        try expectNothingHeld()
        let settled = workers.map(Self.residentKB)
        try Self.vanish(1000, port: appliance.port, token: token)
        let silent = try (0..<20).map { _ in try EventStreamClient(port: appliance.port, token: token) }
        try expectNothingHeld()
        #expect(appliance.workerPIDs() == workers, "no worker died")
        for client in silent { client.read() }
        let statuses = try silent.map { try $0.exchange.status }
        #expect(try silent.allSatisfy { try $0.events.last?.name == "end" }, "a client that reads nothing until the end still gets it all: \(statuses)")
        let after = workers.map(Self.residentKB)
        #expect(zip(after, settled).allSatisfy { Double($0.0) <= Double($0.1) * 1.1 }, "1,000 more vanishing clients: \(settled) kB, then \(after) kB")
        #expect(try spent() > 0 && (try redisValue("HLEN", "ratelimit:cost:reservations")) == "0")
        let last = try EventStreamClient(port: appliance.port, token: token)
        #expect(last.read(until: "event: end"))
    }
}
