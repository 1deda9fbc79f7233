import Foundation
import Testing
import TestSupport

/// The series an operator's dashboard and alerts read, through the real
/// binary with 2 workers: exact totals across workers that a killed worker
/// never takes back, and the LLM, breaker and pool series.
@Suite struct MetricSeriesTests {
    static let queries = #"assistant_queries_total{endpoint="query",status="success",cached="false"}"#

    @Test func fortyQueriesOverTwoWorkersCountFortyAndAKilledWorkerTakesNothingBack() throws {
        let appliance = try Appliance(
            library: try UpstreamTests.library.get(), users: ["ann@example.com": "password123"], environment: ["WORKERS": "2"])
        let token = try EndToEndTests.token("ann@example.com", "password123", port: appliance.port)
        for index in 0..<40 {  // each on a fresh connection: the kernel spreads them over both workers' sockets
            let response = try HTTPExchange.request(
                "POST", "/api/v1/assistant/query", port: appliance.port, body: #"{"query":"grace \#(index)"}"#, headers: ["Authorization": "Bearer \(token)"])
            #expect(response.status == 200)
        }
        let slots = appliance.logLines(containing: "route=/api/v1/assistant/query").compactMap { LoggingTests.fields($0)["slot"] }
        #expect(Set(slots) == ["0", "1"], "both workers answered queries: \(slots)")
        let counted = try HTTPExchange.request("GET", "/metrics", port: appliance.port).body
        #expect(OperationsTests.value(in: counted, Self.queries) == 40, "\(counted.split(separator: "\n").filter { $0.hasPrefix("assistant_queries_total") })")
        #expect(OperationsTests.value(in: counted, "assistant_query_duration_seconds_count") == 40)
        let inputTokens = try #require(OperationsTests.value(in: counted, #"scribes_llm_tokens_total{provider="local",model="local",direction="input"}"#))
        #expect(inputTokens > 0)

        usleep(1_500_000)  // workers report every second
        kill(try #require(appliance.workerPIDs().first), SIGKILL)
        try waitUntil("the slot is refilled") { appliance.logLines(containing: "worker ready").count == 3 }
        let afterKill = try HTTPExchange.request("GET", "/metrics", port: appliance.port).body
        #expect(OperationsTests.value(in: afterKill, Self.queries) == 40)
        #expect(OperationsTests.value(in: afterKill, #"scribes_llm_tokens_total{provider="local",model="local",direction="input"}"#) == inputTokens)
    }

    @Test func theGaugesSayWhereTheBreakerAndThePoolsStand() throws {
        let appliance = try Appliance(environment: ["WORKERS": "2", "DATABASE_MAX_CONNECTIONS": "3"])
        usleep(1_500_000)  // sampled every second
        let metrics = try HTTPExchange.request("GET", "/metrics", port: appliance.port).body
        #expect(OperationsTests.value(in: metrics, #"scribes_llm_breaker_state{state="closed"}"#) == 2, "both workers see it closed")
        #expect(OperationsTests.value(in: metrics, #"scribes_llm_breaker_state{state="open"}"#) == 0)
        // Each worker opened its pool's connections before it reported ready.
        #expect(OperationsTests.value(in: metrics, #"scribes_pool_connections{pool="postgresql",state="idle"}"#) == 6)
        #expect(OperationsTests.value(in: metrics, #"scribes_pool_waiters{pool="postgresql"}"#) == 0)
        #expect(OperationsTests.value(in: metrics, #"scribes_pool_connections{pool="redis",state="idle"}"#).map { $0 >= 2 } == true)
    }
}
