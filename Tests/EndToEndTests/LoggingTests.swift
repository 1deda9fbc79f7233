import Foundation
import Testing
import TestSupport

/// The appliance's log lines: one access line per request, logfmt and JSON,
/// the journal's priority prefixes, and the lines the guide's
/// troubleshooting steps grep for.
@Suite struct LoggingTests {
    /// `key=value` pairs of a logfmt line (quoted values unquoted, escapes kept).
    static func fields(_ line: Substring) -> [String: String] {
        var fields: [String: String] = [:]
        var rest = line[...]
        while let equals = rest.firstIndex(of: "=") {
            let key = String(rest[..<equals].split(separator: " ").last ?? "")
            rest = rest[rest.index(after: equals)...]
            if rest.first == "\"" {
                var value = "", escaped = false, index = rest.index(after: rest.startIndex)
                while index < rest.endIndex, escaped || rest[index] != "\"" {
                    escaped = !escaped && rest[index] == "\\"
                    value.append(rest[index])
                    index = rest.index(after: index)
                }
                fields[key] = value
                rest = index < rest.endIndex ? rest[rest.index(after: index)...] : ""
            } else {
                let end = rest.firstIndex(of: " ") ?? rest.endIndex
                fields[key] = String(rest[..<end])
                rest = rest[end...]
            }
        }
        return fields
    }

    @Test func everyRequestHasOneAccessLineWithItsRouteStatusUserAndRequestID() throws {
        let appliance = try Appliance(users: ["ann@example.com": "password123"], environment: ["WORKERS": "1"])
        let token = try EndToEndTests.token("ann@example.com", "password123", port: appliance.port)
        let note = try HTTPExchange.request(
            "POST", "/api/v1/notes", port: appliance.port, body: #"{"title":"Grace","body":"Sermon on grace"}"#,
            headers: ["Authorization": "Bearer \(token)", "X-Request-ID": "note-1"])
        #expect(note.status == 201)
        let id = try #require(note.json["id"] as? Int)
        #expect(try HTTPExchange.request("GET", "/api/v1/notes/\(id)", port: appliance.port, headers: ["X-Request-ID": "anonymous-1"]).status == 401)
        try waitUntil("both access lines are written") { appliance.logLines(containing: "msg=request ").count >= 3 }
        let lines = appliance.logLines(containing: "msg=request ").map(Self.fields)
        let created = try #require(lines.first { $0["request_id"] == "note-1" })
        #expect(created["level"] == "INFO")
        #expect(created["method"] == "POST" && created["route"] == "/api/v1/notes" && created["status"] == "201")
        #expect(created["user_id"] == "1")
        #expect(Double(created["duration_ms"] ?? "") ?? -1 >= 0)
        #expect(created["time"]?.hasSuffix("Z") == true)
        let refused = try #require(lines.first { $0["request_id"] == "anonymous-1" })
        #expect(refused["route"] == "/api/v1/notes/{id}" && refused["status"] == "401" && refused["user_id"] == nil, "the pattern, never the id")
    }

    @Test func jsonLinesAreObjectsWithTheSameFields() throws {
        let appliance = try Appliance(environment: ["WORKERS": "1", "LOG_FORMAT": "json"])
        #expect(try HTTPExchange.request("GET", "/api/v1/assistant/health", port: appliance.port, headers: ["X-Request-ID": "json-1"]).status == 200)
        try waitUntil("the access line is written") { !appliance.logLines(containing: "json-1").isEmpty }
        let objects = appliance.log.split(separator: "\n").map { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(!objects.contains { $0 == nil }, "every line is one JSON object")
        let access = try #require(objects.compactMap { $0 }.first { $0["request_id"] as? String == "json-1" })
        #expect(access["msg"] as? String == "request" && access["level"] as? String == "INFO")
        #expect(access["route"] as? String == "/api/v1/assistant/health" && access["status"] as? String == "200")
        #expect(access["slot"] as? String == "0")
    }

    @Test func underTheJournalLinesCarryTheirPriorityAndNoTime() throws {
        let appliance = try Appliance(environment: ["WORKERS": "1"], journal: true)
        #expect(try HTTPExchange.request("GET", "/api/v1/assistant/health", port: appliance.port).status == 200)
        try waitUntil("the access line is written") { !appliance.logLines(containing: "msg=request ").isEmpty }
        let lines = appliance.log.split(separator: "\n")
        #expect(lines.allSatisfy { $0.hasPrefix("<") }, "\(lines.filter { !$0.hasPrefix("<") })")
        #expect(appliance.logLines(containing: "msg=request ").allSatisfy { $0.hasPrefix("<6>level=INFO ") })
        #expect(!appliance.log.contains("time="), "journald stamps the time")
        // Without the journal's stream identity on standard error, no prefixes.
        let plain = try Appliance(environment: ["WORKERS": "1"], serveEnvironment: ["JOURNAL_STREAM": "1:1"])
        #expect(plain.logLines(containing: "worker ready").allSatisfy { $0.hasPrefix("time=") })
    }

    @Test func theGuidesTroubleshootingGrepsFindTheirLinesInLogFile() throws {
        let redis = try PrivateRedis()
        let directory = try ProcessRunner.emptyDirectory()
        let logFile = directory + "/app.log"
        let appliance = try Appliance(
            users: ["ann@example.com": "password123"],
            environment: ["WORKERS": "1", "RATE_LIMITING_ENABLED": "true", "REDIS_PORT": String(redis.port), "LOG_FILE": logFile])
        let token = try EndToEndTests.token("ann@example.com", "password123", port: appliance.port)
        func lines(_ text: String) -> [Substring] {
            ((try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "").split(separator: "\n").filter { $0.lowercased().contains(text.lowercased()) }
        }
        // tail -f logs/app.log | grep -i redis  →  "Redis client connected successfully"
        try waitUntil("the worker connects to Redis") { !lines("Redis client connected successfully").isEmpty }
        try redis.stop()
        let query = try HTTPExchange.request(
            "POST", "/api/v1/assistant/query", port: appliance.port, body: #"{"query":"grace"}"#, headers: ["Authorization": "Bearer \(token)"])
        #expect(query.status == 200, "fails open: \(query.body)")
        try waitUntil("the outage is logged") { !lines("Rate limit check failed: ").isEmpty && !lines("Failed to connect to Redis: ").isEmpty }
        #expect(lines("Rate limit check failed: ").allSatisfy { $0.contains("level=WARNING") })
        #expect(lines("Failed to connect to Redis: ").allSatisfy { $0.contains("level=ERROR") }, "grep ERROR finds it")
        #expect(lines("redis").count >= 3)
    }
}
