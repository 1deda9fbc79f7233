import Foundation
import Testing
import TestSupport

/// The paid upstream through the real binary, against a fake
/// chat-completions server speaking the provider's protocol.
@Suite struct UpstreamTests {
    static let library = Result {
        let path = try ProcessRunner.emptyDirectory() + "/library.jsonl"
        let verses = [
            #"{"ref":"Ephesians 2:8","book":"Ephesians","chapter":2,"verse":8,"text":"For by grace are ye saved through faith; and that not of yourselves: it is the gift of God"}"#,
            #"{"ref":"Romans 3:24","book":"Romans","chapter":3,"verse":24,"text":"Being justified freely by his grace through the redemption that is in Christ Jesus"}"#,
        ]
        try (verses.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    let upstream: FakeUpstream
    let appliance: Appliance
    let token: String

    init(provider: String = "openai", environment: [String: String?] = [:]) throws {
        upstream = try FakeUpstream()
        appliance = try Appliance(
            library: try Self.library.get(), users: ["ann@example.com": "password123"],
            environment: [
                "WORKERS": "1", "LLM_PROVIDER": provider, "LLM_BASE_URL": upstream.baseURL, "LLM_MODEL": "fake-model",
                "HF_API_TOKEN": "upstream-secret", "LLM_PRICE_INPUT_PER_1K": "0.5", "LLM_PRICE_OUTPUT_PER_1K": "1.5",
                "LLM_TIMEOUT_SECONDS": "2", "GRACEFUL_TIMEOUT": "7", "LLM_BREAKER_FAILURES": "3", "LLM_BREAKER_RESET_SECONDS": "2",
            ].merging(environment) { $1 })
        token = try EndToEndTests.token("ann@example.com", "password123", port: appliance.port)
    }

    init() throws { try self.init(provider: "openai") }

    func query(_ text: String = "grace") throws -> HTTPExchange {
        try HTTPExchange.request("POST", "/api/v1/assistant/query", port: appliance.port, body: #"{"query":"\#(text)"}"#, headers: ["Authorization": "Bearer \(token)"])
    }

    func circuit() throws -> String? {
        (try HTTPExchange.request("GET", "/api/v1/assistant/health", port: appliance.port).json["checks"] as? [String: Any])?["llm_circuit"] as? String
    }

    @Test(arguments: ["openai", "huggingface"])
    func aQueryReturnsTheUpstreamAnswerWithItsTokensAndExactCost(provider: String) throws {
        let suite = try UpstreamTests(provider: provider)
        let response = try suite.query()
        #expect(response.status == 200, "\(response.body)")
        #expect(response.json["answer"] as? String == suite.upstream.behavior.answer)
        let metadata = try #require(response.json["metadata"] as? [String: Any])
        #expect(metadata["provider"] as? String == provider)
        let (query, context, output) = (metadata["query_tokens"] as? Int ?? -1, metadata["context_tokens"] as? Int ?? -1, metadata["output_tokens"] as? Int ?? -1)
        #expect(query + context == 321 && query > 0 && context > 0, "prompt tokens split: \(query) + \(context)")
        #expect(output == 47)
        let cost = try #require(metadata["api_cost_usd"] as? Double)
        #expect(abs(cost - (321 * 0.5 + 47 * 1.5) / 1000) < 1e-9)
        #expect(metadata["cost_estimated"] as? Bool == false)
        // What the upstream was sent: the model, the instructions, the numbered passages, the question.
        let seen = suite.upstream.counters
        #expect(seen.lastAuthorization == "Bearer upstream-secret")
        #expect(seen.lastBody.contains(#""model":"fake-model""#))
        #expect(seen.lastBody.contains(#""role":"system""#))
        #expect(seen.lastBody.contains("[1] Ephesians 2:8") || seen.lastBody.contains("[1] Romans 3:24"))
        #expect(seen.lastBody.contains("Question: grace"))
        #expect(!suite.appliance.log.contains("upstream-secret"))
    }

    @Test func consecutiveFailuresOpenTheBreakerWhichFailsFastThenOneProbeClosesIt() throws {
        upstream.behavior.mode = .status(500)
        for _ in 0..<3 {
            let response = try query()
            #expect(response.status == 502)
            #expect(response.json["detail"] as? String != nil)
        }
        #expect(try circuit() == "open")
        let start = Date()
        let shed = try query()
        let elapsed = Date().timeIntervalSince(start)
        #expect(shed.status == 503)
        #expect(Int(shed.headers["retry-after"] ?? "") ?? 0 >= 1)
        #expect(elapsed < 0.05, "failed fast in \(elapsed) s")
        #expect(upstream.counters.requests == 3, "no call while open")

        try waitUntil("the reset timeout passes", timeout: .seconds(3)) { try circuit() == "half_open" }
        upstream.behavior.mode = .answer
        #expect(try query().status == 200)
        #expect(upstream.counters.requests == 4)
        #expect(try circuit() == "closed")
    }

    @Test func theBreakerIsSharedByBothWorkersAndLetsExactlyOneProbeThrough() throws {
        let suite = try UpstreamTests(provider: "openai", environment: ["WORKERS": "2"])
        suite.upstream.behavior.mode = .status(500)
        // Three failures, each on a fresh connection, so the two workers share them.
        for _ in 0..<3 { #expect(try suite.query().status == 502) }
        for _ in 0..<10 {
            let start = Date()
            let shed = try suite.query()
            #expect(shed.status == 503 && Date().timeIntervalSince(start) < 0.05, "\(shed.status) after \(Date().timeIntervalSince(start)) s")
            #expect(Int(shed.headers["retry-after"] ?? "") ?? 0 >= 1)
        }
        #expect(suite.upstream.counters.requests == 3, "open on both workers")
        try waitUntil("the reset timeout passes", timeout: .seconds(3)) { try suite.circuit() == "half_open" }
        suite.upstream.behavior.mode = .hang
        let request = HTTPExchange.requestText(
            "POST", "/api/v1/assistant/query", port: suite.appliance.port, body: #"{"query":"grace"}"#, headers: ["Authorization": "Bearer \(suite.token)"])
        let pending = try (0..<6).map { _ in try PendingExchange(request, port: suite.appliance.port) }
        let statuses = try pending.map { try $0.finish().status }
        #expect(statuses.filter { $0 == 503 }.count == 5 && statuses.filter { $0 == 504 }.count == 1, "\(statuses)")
        #expect(suite.upstream.counters.requests == 4, "exactly one probe reached the upstream")
        #expect(try suite.circuit() == "open", "the probe's failure opened it again")
    }

    @Test func anUpstream429BecomesA503WithItsRetryAfter() throws {
        upstream.behavior.mode = .status(429, retryAfter: 7)
        let response = try query()
        #expect(response.status == 503)
        #expect(response.headers["retry-after"] == "7")
        #expect(try circuit() == "closed", "the provider's flow control is not a fault")
    }

    @Test func aHangingUpstreamIsCutAtTheTimeout() throws {
        upstream.behavior.mode = .hang
        let start = Date()
        let response = try query()
        let elapsed = Date().timeIntervalSince(start)
        #expect(response.status == 504)
        #expect(response.json["detail"] as? String != nil)
        #expect(elapsed > 1.9 && elapsed < 4, "cut after \(elapsed) s")
    }

    @Test func aClientThatDisconnectsCancelsTheUpstreamCall() throws {
        upstream.behavior.mode = .hang
        var pending: PendingExchange? = try PendingExchange(
            HTTPExchange.requestText("POST", "/api/v1/assistant/query", port: appliance.port, body: #"{"query":"grace"}"#, headers: ["Authorization": "Bearer \(token)"]),
            port: appliance.port)
        try waitUntil("the upstream call starts", timeout: .seconds(5)) { upstream.counters.inFlight == 1 }
        pending = nil  // closes the client's socket
        _ = pending
        try waitUntil("the upstream sees the call abandoned", timeout: .seconds(1)) { upstream.counters.abandoned == 1 }
    }

    @Test(arguments: [FakeUpstream.Mode.malformed, .reset, .trickle(interval: .milliseconds(300)), .status(503)])
    func brokenUpstreamRepliesGetAClearErrorNotACrash(mode: FakeUpstream.Mode) throws {
        upstream.behavior.mode = mode
        let response = try query()
        #expect([502, 504].contains(response.status), "\(response.status) \(response.body)")
        #expect(response.json["detail"] as? String != nil)
        upstream.behavior.mode = .answer
        #expect(try query().status == 200, "the worker still answers")
    }

    @Test func missingUsageIsEstimatedAndSaysSo() throws {
        upstream.behavior.mode = .missingUsage
        let response = try query()
        #expect(response.status == 200)
        let metadata = try #require(response.json["metadata"] as? [String: Any])
        #expect(metadata["cost_estimated"] as? Bool == true)
        #expect((metadata["api_cost_usd"] as? Double ?? 0) > 0)
        #expect((metadata["output_tokens"] as? Int ?? 0) > 0)
    }

    @Test func eventLoopsStayResponsiveWhileFiftyUpstreamCallsHang() throws {
        let suite = try UpstreamTests(provider: "openai", environment: ["LLM_TIMEOUT_SECONDS": "20", "GRACEFUL_TIMEOUT": "25"])
        suite.upstream.behavior.mode = .hang
        let request = HTTPExchange.requestText("POST", "/api/v1/assistant/query", port: suite.appliance.port, body: #"{"query":"grace"}"#, headers: ["Authorization": "Bearer \(suite.token)"])
        let pending = try (0..<50).map { _ in try PendingExchange(request, port: suite.appliance.port) }
        try waitUntil("50 calls hang at the upstream", timeout: .seconds(10)) { suite.upstream.counters.inFlight == 50 }
        var latencies: [Double] = []
        for _ in 0..<9 {
            let start = Date()
            #expect(try HTTPExchange.request("GET", "/api/v1/assistant/health", port: suite.appliance.port).status == 200)
            latencies.append(Date().timeIntervalSince(start))
        }
        #expect(latencies.sorted()[4] < 0.05, "median health latency \(latencies.sorted()[4]) s")
        withExtendedLifetime(pending) {}
    }
}

