import Foundation
import Testing
import TestSupport

/// OpenTelemetry traces from the real binary to a local OTLP/HTTP (JSON)
/// receiver: one trace per query with its four children, the LLM span's
/// context sent upstream, an incoming `traceparent` continued, and spans
/// flushed when a worker drains.
@Suite struct TracingTests {
    let receiver: OTLPReceiver
    let upstream: FakeUpstream
    let redis: PrivateRedis
    let appliance: Appliance
    let token: String

    init(scheduleDelayMilliseconds: Int = 100, environment extra: [String: String] = [:]) throws {
        receiver = try OTLPReceiver()
        upstream = try FakeUpstream()
        redis = try PrivateRedis()
        appliance = try Appliance(
            library: try UpstreamTests.library.get(), users: ["ann@example.com": "password123"],
            environment: [
                "WORKERS": "1", "RATE_LIMITING_ENABLED": "true", "REDIS_PORT": String(redis.port),
                "LLM_PROVIDER": "openai", "LLM_BASE_URL": upstream.baseURL, "LLM_MODEL": "fake-model", "HF_API_TOKEN": "upstream-secret",
                "LLM_PRICE_INPUT_PER_1K": "0.5", "LLM_PRICE_OUTPUT_PER_1K": "1.5",
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
                "OTEL_TRACES_SAMPLER": "parentbased_always_on", "OTEL_BSP_SCHEDULE_DELAY": String(scheduleDelayMilliseconds),
            ].merging(extra) { $1 })
        token = try EndToEndTests.token("ann@example.com", "password123", port: appliance.port)
    }

    init() throws { try self.init(scheduleDelayMilliseconds: 100) }

    func query(headers: [String: String] = [:]) throws -> HTTPExchange {
        try HTTPExchange.request(
            "POST", "/api/v1/assistant/query", port: appliance.port, body: #"{"query":"What is grace?"}"#,
            headers: ["Authorization": "Bearer \(token)"].merging(headers) { $1 })
    }

    /// The query's trace once its server span and four children have arrived.
    func queryTrace(timeout: Duration = .seconds(5)) throws -> (server: OTLPReceiver.Span, all: [OTLPReceiver.Span]) {
        var found: (OTLPReceiver.Span, [OTLPReceiver.Span])?
        try waitUntil("the query's spans reach the receiver", timeout: timeout) {
            let spans = receiver.spans
            guard let server = spans.first(where: { $0.name == "/api/v1/assistant/query" }) else { return false }
            let trace = spans.filter { $0.traceID == server.traceID }
            found = (server, trace)
            return trace.count >= 5
        }
        return found!
    }

    @Test func anUncachedQueryIsOneTraceWithItsFourChildrenAndTheUpstreamGetsTheLLMSpan() throws {
        #expect(try query().status == 200)
        let (server, trace) = try queryTrace()
        let children = trace.filter { $0.parentSpanID == server.spanID }
        #expect(Set(children.map(\.name)) == ["admission", "retrieval", "chat fake-model", "settlement"], "\(trace.map(\.name))")
        #expect(trace.count == 5, "\(trace.map(\.name))")
        #expect(server.attributes["http.route"] == "/api/v1/assistant/query")
        #expect(server.attributes["http.response.status_code"] == "200")
        let llm = try #require(children.first { $0.name == "chat fake-model" })
        #expect(llm.attributes["gen_ai.operation.name"] == "chat")
        #expect(llm.attributes["gen_ai.request.model"] == "fake-model")
        #expect(llm.attributes["gen_ai.usage.input_tokens"] == "321")
        #expect(llm.attributes["gen_ai.usage.output_tokens"] == "47")
        #expect(children.first { $0.name == "retrieval" }?.attributes["db.system.name"] == "postgresql")
        #expect(children.first { $0.name == "admission" }?.attributes["db.system.name"] == "redis")
        #expect(children.first { $0.name == "settlement" }?.attributes["scribes.charge"] == "usage")
        // traceparent: 00-{trace id}-{parent span id}-{flags}
        let sent = try #require(upstream.counters.lastTraceparent).split(separator: "-").map(String.init)
        #expect(sent.count == 4 && sent[1] == server.traceID && sent[2] == llm.spanID, "\(sent)")
    }

    @Test func aFailedUpstreamCallIsAnLLMSpanWithItsErrorType() throws {
        upstream.behavior.mode = .status(500)
        #expect(try query().status == 502)
        let (_, trace) = try queryTrace()
        #expect(trace.first { $0.name == "chat fake-model" }?.attributes["error.type"] == "500", "\(trace)")
        #expect(trace.first { $0.name == "settlement" }?.attributes["scribes.charge"] == "refund")
    }

    @Test func aRequestWithATraceparentContinuesThatTrace() throws {
        let (traceID, parent) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
        #expect(try query(headers: ["traceparent": "00-\(traceID)-\(parent)-01"]).status == 200)
        let (server, trace) = try queryTrace()
        #expect(server.traceID == traceID)
        #expect(server.parentSpanID == parent)
        #expect(upstream.counters.lastTraceparent?.contains(traceID) == true)
        #expect(trace.count == 5)
        // The access line is written inside the server span: it names the trace and the span.
        let access = appliance.logLines(containing: "route=/api/v1/assistant/query").first { $0.contains("trace_id=\(traceID)") }
        #expect(access?.contains("span_id=\(server.spanID)") == true, "\(appliance.log)")
    }

    @Test func theDefaultProtocolPostsProtobufWithTheConfiguredHeaders() throws {
        let suite = try TracingTests(environment: [
            "OTEL_EXPORTER_OTLP_PROTOCOL": "", "OTEL_EXPORTER_OTLP_HEADERS": "x-api-key=collector%2Dsecret,x-tenant=scribes",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test",
        ])
        let traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
        #expect(try suite.query(headers: ["traceparent": "00-\(traceID)-00f067aa0ba902b7-01"]).status == 200)
        // The query's spans may arrive over several exports (a batch every 100 ms).
        var exports: [OTLPReceiver.Export] = []
        try waitUntil("protobuf exports of the query's trace", timeout: .seconds(5)) {
            exports = suite.receiver.exports
            let all = exports.flatMap(\.body)
            return Self.contains(all, Self.bytes(hex: traceID)) && Self.contains(all, Array("/api/v1/assistant/query".utf8))
        }
        for export in exports {
            #expect(export.path == "/v1/traces")
            #expect(export.headers["content-type"] == "application/x-protobuf")
            #expect(export.headers["x-api-key"] == "collector-secret" && export.headers["x-tenant"] == "scribes")
            for text in ["deployment.environment", "scribes-assistant"] { #expect(Self.contains(export.body, Array(text.utf8)), "\(text)") }
        }
        #expect(suite.receiver.spans.isEmpty, "a protobuf body read as JSON")
    }

    static func bytes(hex: String) -> [UInt8] {
        stride(from: 0, to: hex.count, by: 2).map { UInt8(hex.dropFirst($0).prefix(2), radix: 16)! }
    }

    static func contains(_ body: [UInt8], _ needle: [UInt8]) -> Bool {
        guard body.count >= needle.count else { return false }
        return (0...(body.count - needle.count)).contains { body[$0..<($0 + needle.count)].elementsEqual(needle) }
    }

    @Test func aReloadFlushesTheDrainingWorkersSpans() throws {
        // Batches would wait ten minutes: only the drain's flush can deliver them.
        let suite = try TracingTests(scheduleDelayMilliseconds: 600_000)
        #expect(try suite.query().status == 200)
        Thread.sleep(forTimeInterval: 0.5)
        #expect(suite.receiver.spans.isEmpty)
        kill(suite.appliance.pid, SIGHUP)
        let (_, trace) = try suite.queryTrace(timeout: .seconds(10))
        #expect(trace.count == 5)
    }
}
