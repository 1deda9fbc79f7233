import Foundation
import Testing
import TestSupport

/// The guide's JSON and metric series to the letter: its Test 2 stats shape,
/// money with a decimal point, the query's key order, and
/// `assistant_queries_total` / `assistant_query_duration_seconds`.
@Suite struct GuideInterfaceTests {
    let redis: PrivateRedis
    let appliance: Appliance
    let token: String

    init() throws {
        redis = try PrivateRedis()
        appliance = try Appliance(
            library: try UpstreamTests.library.get(), users: ["ann@example.com": "password123"],
            environment: ["WORKERS": "2", "RATE_LIMITING_ENABLED": "true", "REDIS_PORT": String(redis.port), "RATE_LIMIT_PER_MINUTE": "3"])
        token = try EndToEndTests.token("ann@example.com", "password123", port: appliance.port)
    }

    func query(_ text: String) throws -> HTTPExchange {
        try HTTPExchange.request("POST", "/api/v1/assistant/query", port: appliance.port, body: #"{"query":"\#(text)"}"#, headers: ["Authorization": "Bearer \(token)"])
    }

    @Test func statsHasAnIntegerTimestampAndMoneyWithADecimalPointInTheGuidesOrder() throws {
        let before = Int(Date().timeIntervalSince1970)
        let stats = try HTTPExchange.request("GET", "/api/v1/assistant/stats", port: appliance.port, headers: ["Authorization": "Bearer \(token)"])
        #expect(stats.status == 200)
        let timestamp = try #require((stats.json["data"] as? [String: Any])?["timestamp"] as? Int, "\(stats.body)")
        #expect((before - 1...before + 5).contains(timestamp))
        #expect(stats.body.hasPrefix(#"{"status":"success","data":{"user_id":1,"timestamp":"#), "\(stats.body)")
        #expect(stats.body.contains(#""limits":{"minute":{"current":0,"limit":3,"remaining":3},"hour":{"current":0,"limit":100,"remaining":100},"day":{"current":0,"limit":500,"remaining":500}}"#))
        #expect(stats.body.hasSuffix(#""cost":{"today":0.0,"limit":5.0,"remaining":5.0}}}"#), "\(stats.body)")
    }

    @Test func aQueryAnswersInTheGuidesKeyOrderWithRoundedScores() throws {
        let response = try query("What is grace?")
        #expect(response.status == 200)
        let (answer, sources, metadata) = (response.body.range(of: #""answer":"#), response.body.range(of: #","sources":["#), response.body.range(of: #","metadata":{"#))
        #expect(response.body.hasPrefix(#"{"answer":"#))
        #expect(answer != nil && sources != nil && metadata != nil && sources!.lowerBound < metadata!.lowerBound, "\(response.body)")
        for source in response.json["sources"] as? [[String: Any]] ?? [] {
            let score = try #require(source["score"] as? Double)
            #expect(abs(score * 10_000 - (score * 10_000).rounded()) < 1e-6, "rounded to 4 decimals: \(score)")
        }
        #expect(response.body.contains(#""api_cost_usd":0.0,"#), "money has a decimal point: \(response.body)")
    }

    @Test func theGuidesQuerySeriesCountEveryQueryAcrossWorkers() throws {
        for _ in 0..<3 { #expect(try query("What is grace?").status == 200) }
        #expect(try query("What is grace?").status == 429)
        let metrics = try HTTPExchange.request("GET", "/metrics", port: appliance.port).body
        #expect(metrics.contains(#"assistant_queries_total{endpoint="query",status="success",cached="false"} 3"#), "\(metrics)")
        #expect(metrics.contains(#"assistant_queries_total{endpoint="query",status="rate_limited",cached="false"} 1"#))
        #expect(metrics.contains(#"assistant_query_duration_seconds_bucket{le="1.0"} 4"#))
        #expect(metrics.contains(#"assistant_query_duration_seconds_bucket{le="5.0"} 4"#))
        #expect(metrics.contains("assistant_query_duration_seconds_count 4"))
        #expect(metrics.contains(#"scribes_ratelimit_rejections_total{limit="minute"} 1"#), "the refusing limit is named")
    }
}
