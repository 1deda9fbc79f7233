import Foundation
import Testing
import TestSupport

/// docs/observability's alert rules pass promtool, every series they and
/// the Grafana dashboard name is one the appliance exports, and
/// docs/operations.md lists every series it exports.
@Suite struct ObservabilityDocsTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/observability").standardized.path

    @Test func theAlertRulesPassPromtoolAndTheirOwnUnitTests() throws {
        let check = try ProcessRunner.run("/usr/bin/promtool", ["check", "rules", "alerts.yml"], directory: Self.directory)
        #expect(check.status == 0, "\(check.standardOutput)\(check.standardError)")
        let test = try ProcessRunner.run("/usr/bin/promtool", ["test", "rules", "alerts.test.yml"], directory: Self.directory)
        #expect(test.status == 0, "\(test.standardOutput)\(test.standardError)")
    }

    /// docs/operations.md's example lines have the real lines' field order:
    /// time, level, msg, then the fields alphabetically (LogLineTests checks the writer).
    @Test func theLogExamplesInOperationsHaveTheFieldOrderOfRealLines() throws {
        let operations = try String(contentsOfFile: Self.directory + "/../operations.md", encoding: .utf8)
        let examples = operations.split(separator: "\n").filter { $0.hasPrefix("time=") }
        #expect(examples.count >= 4)
        let key = try NSRegularExpression(pattern: #"(?:^| )([a-z_]+)=(?:"(?:[^"\\]|\\.)*"|\S*)"#)
        for line in examples {
            let text = String(line)
            let keys = key.matches(in: text, range: NSRange(text.startIndex..., in: text)).map { String(text[Range($0.range(at: 1), in: text)!]) }
            #expect(Array(keys.prefix(3)) == ["time", "level", "msg"] && Array(keys.dropFirst(3)) == keys.dropFirst(3).sorted(), "\(line)")
        }
    }

    /// The series names in a text of PromQL (a histogram's `_bucket` named by its base name).
    static func seriesNames(in text: String) -> Set<String> {
        let pattern = try! NSRegularExpression(pattern: #"\b(?:scribes|assistant)_[a-z_]+"#)
        let names = pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)).map { String(text[Range($0.range, in: text)!]) }
        return Set(names.map { $0.replacingOccurrences(of: #"_(bucket|sum|count)$"#, with: "", options: .regularExpression) })
    }

    /// The series names of a Prometheus exposition.
    static func exported(_ exposition: String) -> Set<String> {
        Set(exposition.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.compactMap { $0.split(separator: " ").dropFirst(2).first.map(String.init) })
    }

    @Test func everySeriesTheDashboardAndTheRulesNameIsExportedAndDocumented() throws {
        let dashboard = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.directory + "/grafana-dashboard.json"))) as? [String: Any]
        let expressions = (dashboard?["panels"] as? [[String: Any]] ?? []).flatMap { ($0["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String } }
        let rules = try String(contentsOfFile: Self.directory + "/alerts.yml", encoding: .utf8)
            .split(separator: "\n").filter { $0.contains("expr:") }.joined(separator: "\n")
        let named = Self.seriesNames(in: expressions.joined(separator: "\n")).union(Self.seriesNames(in: rules))
        #expect(named.count >= 15, "\(named.sorted())")

        // An appliance that has done everything those series count: answers (computed and cached), a refusal, a restart.
        let redis = try PrivateRedis()
        let upstream = try FakeUpstream()
        let appliance = try Appliance(
            library: try UpstreamTests.library.get(), users: ["ann@example.com": "password123"],
            environment: [
                "WORKERS": "2", "RATE_LIMITING_ENABLED": "true", "CACHE_ENABLED": "true", "REDIS_PORT": String(redis.port), "RATE_LIMIT_PER_MINUTE": "2",
                "LLM_PROVIDER": "openai", "LLM_BASE_URL": upstream.baseURL, "LLM_MODEL": "fake-model", "HF_API_TOKEN": "secret",
                "LLM_PRICE_INPUT_PER_1K": "0.5", "LLM_PRICE_OUTPUT_PER_1K": "1.5",
            ])
        let token = try EndToEndTests.token("ann@example.com", "password123", port: appliance.port)
        let statuses = try (0..<3).map { _ in
            try HTTPExchange.request("POST", "/api/v1/assistant/query", port: appliance.port, body: #"{"query":"grace"}"#, headers: ["Authorization": "Bearer \(token)"]).status
        }
        #expect(statuses == [200, 200, 429])
        usleep(1_500_000)  // workers report every second: the killed one keeps what it reported
        kill(try #require(appliance.workerPIDs().first), SIGKILL)
        try waitUntil("the slot is refilled") { appliance.logLines(containing: "worker ready").count == 3 }
        usleep(1_500_000)  // the gauges are sampled every second
        let exported = Self.exported(try HTTPExchange.request("GET", "/metrics", port: appliance.port).body)
        #expect(named.subtracting(exported).isEmpty, "named but not exported: \(named.subtracting(exported).sorted()); exported: \(exported.sorted())")
        let operations = try String(contentsOfFile: Self.directory + "/../operations.md", encoding: .utf8)
        #expect(exported.filter { !operations.contains("`\($0)`") }.isEmpty, "exported but not in docs/operations.md: \(exported.filter { !operations.contains("`\($0)`") }.sorted())")
    }
}
