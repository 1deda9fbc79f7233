import Foundation
import Testing
import TestSupport

/// Zero-downtime operations through the real binary: rolling reload, hung
/// workers, dead-slot cover, recycling, log reopening, metrics across workers.
@Suite struct OperationsTests {
    /// An env file of the test's own, so SIGHUP has something to re-read.
    static func envFile(_ lines: [String]) throws -> String {
        let path = try ProcessRunner.emptyDirectory() + "/scribes.env"
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func sighupTwiceUnderLoadReplacesEveryWorkerWithoutAFailedRequest() throws {
        let notify = try NotifySocket()
        let file = try Self.envFile(["WORKER_TIMEOUT=30"])
        let appliance = try Appliance(environment: ["WORKERS": "2", "NOTIFY_SOCKET": notify.path], arguments: ["--env-file", file])
        let before = Set(appliance.workerPIDs())
        let wrkLog = appliance.directory + "/wrk.txt"
        let wrk = try ProcessRunner.spawn(
            "/usr/bin/wrk", ["-t2", "-c16", "-d20s", "\(appliance.baseURL)/api/v1/assistant/health"], logPath: wrkLog)
        for round in 1...2 {
            sleep(5)
            kill(appliance.pid, SIGHUP)
            try waitUntil("reload \(round) finishes", timeout: .seconds(10)) { appliance.logLines(containing: "reload finished").count == round }
        }
        var status: Int32 = 0
        waitpid(wrk, &status, 0)
        let report = try String(contentsOfFile: wrkLog, encoding: .utf8)
        #expect(report.contains("requests in"), "wrk did not run: \(report)")
        #expect(!report.contains("Non-2xx"), "\(report)")
        #expect(!report.contains("Socket errors"), "\(report)")
        let requests = Int(report.split(separator: "\n").first { $0.contains("requests in") }?.split(separator: " ").first ?? "") ?? 0
        #expect(requests > 1000, "\(report)")

        // wrk has just closed its connections: the last drained workers exit on seeing that.
        try? waitUntil("the drained workers exit", timeout: .seconds(5)) { appliance.workerPIDs().count == 2 }
        let after = Set(appliance.workerPIDs())
        #expect(after.count == 2, "\(appliance.log)")
        #expect(before.isDisjoint(with: after), "every worker is replaced: before \(before), after \(after)")
        #expect(appliance.logLines(containing: "worker replaced").count == 4)
        try waitUntil("READY=1 follows the last reload", timeout: .seconds(2)) { notify.messages.last { $0.contains("READY=1") || $0.contains("RELOADING=1") }?.contains("READY=1") == true }
        let reloading = notify.messages.indices.filter { notify.messages[$0].contains("RELOADING=1") }
        #expect(reloading.count == 2)
        for index in reloading {
            #expect(notify.messages[index].contains("MONOTONIC_USEC="))
            #expect(notify.messages[(index + 1)...].contains { $0.contains("READY=1") })
        }
    }

    @Test func drainingAnswersTheNextRequestWithConnectionCloseAndKeepsIdleConnectionsOpen() throws {
        let appliance = try Appliance(environment: ["WORKERS": "1", "GRACEFUL_TIMEOUT": "30"])
        let connection = try KeepAliveConnection(port: appliance.port)
        #expect(try connection.get("/api/v1/assistant/health").status == 200)
        let old = try #require(appliance.workerPIDs().first)
        kill(appliance.pid, SIGHUP)
        try waitUntil("the reload finishes") { !appliance.logLines(containing: "reload finished").isEmpty }
        // The old worker no longer accepts, but keeps our idle connection open ...
        #expect(!connection.isClosedByServer(within: .seconds(1)))
        #expect(kill(old, 0) == 0)
        // ... and answers its next request, saying it closes the connection, then closes it and exits.
        let last = try connection.get("/api/v1/assistant/health")
        #expect(last.status == 200)
        #expect(last.headers["connection"] == "close")
        #expect(connection.isClosedByServer(within: .seconds(2)))
        try waitUntil("the old worker exits", timeout: .seconds(5)) { hasExited(old) }
        #expect(try HTTPExchange.request("GET", "/api/v1/assistant/health", port: appliance.port).status == 200)
    }

    @Test func anInvalidEnvFileAtSighupIsLoggedAndTheOldConfigurationKeepsServing() throws {
        let notify = try NotifySocket()
        let file = try Self.envFile(["WORKER_TIMEOUT=30", "KEEPALIVE_TIMEOUT=75"])
        let appliance = try Appliance(environment: ["WORKERS": "2", "NOTIFY_SOCKET": notify.path], arguments: ["--env-file", file])
        let before = Set(appliance.workerPIDs())
        try "WORKER_TIMEOUT=1\nKEEPALIVE_TIMEOUT=75\n".write(toFile: file, atomically: true, encoding: .utf8)
        kill(appliance.pid, SIGHUP)
        try waitUntil("the failed reload is logged") { !appliance.logLines(containing: "reload failed").isEmpty }
        #expect(appliance.logLines(containing: "reload failed").first?.contains("WORKER_TIMEOUT") == true)
        try waitUntil("READY=1 follows the failed reload", timeout: .seconds(2)) { notify.messages.last { $0.contains("READY=1") || $0.contains("RELOADING=1") }?.contains("READY=1") == true }
        let reloading = try #require(notify.messages.firstIndex { $0.contains("RELOADING=1") })
        #expect(notify.messages[(reloading + 1)...].contains { $0.contains("READY=1") })
        #expect(Set(appliance.workerPIDs()) == before)
        // A worker started now gets the configuration in force, not the broken file.
        kill(try #require(before.first), SIGKILL)
        try waitUntil("the slot is refilled") { appliance.logLines(containing: "worker ready").count == 3 }
        for _ in 0..<20 {
            #expect(try HTTPExchange.request("GET", "/api/v1/assistant/health", port: appliance.port).status == 200)
        }
    }

    @Test func aWorkerWhoseEventLoopIsBlockedIsKilledAndReplacedWhileRequestsSucceed() throws {
        let appliance = try Appliance(environment: [
            "WORKERS": "2", "WORKER_TIMEOUT": "2", "SCRIBES_TEST_HOOKS": "block-event-loops-on-sigusr2",
        ])
        let workers = appliance.workerPIDs()
        let hung = try #require(workers.first)
        kill(hung, SIGUSR2)
        // A request already in that worker's hands when its loops block is lost with it; start once
        // the loops are blocked: from then on its socket's connections wait in the kernel for the replacement.
        usleep(500_000)
        let start = Date()
        var statuses: [Int] = []
        while Date().timeIntervalSince(start) < 5 {
            statuses.append((try? HTTPExchange.request("GET", "/api/v1/assistant/health", port: appliance.port).status) ?? 0)
        }
        #expect(statuses.allSatisfy { $0 == 200 }, "\(statuses.filter { $0 != 200 }) among \(statuses.count)")
        #expect(hasExited(hung))
        #expect(appliance.logLines(containing: "worker missed heartbeats").contains { $0.contains("pid=\(hung)") })
        #expect(appliance.logLines(containing: "worker exited").map(LoggingTests.fields).contains { $0["pid"] == "\(hung)" && $0["exit"] == "signal=9" })
        #expect(appliance.workerPIDs().count == 2)
    }

    @Test func aSlotInBackoffIsCoveredSoEveryConnectionIsServed() throws {
        let appliance = try Appliance(environment: ["WORKERS": "2", "SCRIBES_TEST_HOOKS": "worker-exit-at-start:1"])
        try waitUntil("slot 1 backs off") { !appliance.logLines(containing: "backing off").isEmpty }
        #expect(appliance.logLines(containing: "slot covered by another worker").contains { $0.contains("slot=1") })
        for _ in 0..<60 {  // fresh connections: the kernel hashes about half of them to slot 1's socket
            #expect(try HTTPExchange.request("GET", "/api/v1/assistant/health", port: appliance.port).status == 200)
        }
    }

    @Test func workersRecycleAfterWorkerMaxRequests() throws {
        // LOG_LEVEL debug logs each request's slot: a failure says how the kernel spread them.
        let appliance = try Appliance(environment: ["WORKERS": "2", "WORKER_MAX_REQUESTS": "20", "WORKER_MAX_REQUESTS_JITTER": "5", "LOG_LEVEL": "debug"])
        let before = Set(appliance.workerPIDs())
        for _ in 0..<80 {
            #expect(try HTTPExchange.request("GET", "/api/v1/assistant/health", port: appliance.port).status == 200)
        }
        do {
            try waitUntil("both original workers are replaced") { before.isDisjoint(with: appliance.workerPIDs()) && appliance.workerPIDs().count == 2 }
        } catch {
            let served = Dictionary(grouping: appliance.logLines(containing: "route=/api/v1/assistant/health").compactMap { LoggingTests.fields($0)["slot"] }) { $0 }.mapValues(\.count)
            let workers = appliance.log.split(separator: "\n").filter { $0.contains("worker") }
            Issue.record("requests per slot \(served); workers \(before) → \(appliance.workerPIDs()):\n\(workers.joined(separator: "\n"))")
            throw error
        }
        #expect(appliance.logLines(containing: "reached WORKER_MAX_REQUESTS").count >= 2)
        let metrics = try HTTPExchange.request("GET", "/metrics", port: appliance.port).body
        #expect(Self.value(in: metrics, #"scribes_worker_restarts_total{slot="0",reason="recycled"}"#) ?? 0 >= 1)
    }

    @Test func sigusr1ReopensTheLogFileInEveryProcess() throws {
        let directory = try ProcessRunner.emptyDirectory()
        let appliance = try Appliance(environment: ["WORKERS": "2", "LOG_LEVEL": "debug", "LOG_FILE": directory + "/app.log"])
        #expect(try String(contentsOfFile: directory + "/app.log", encoding: .utf8).contains("worker ready"))
        try FileManager.default.moveItem(atPath: directory + "/app.log", toPath: directory + "/app.log.1")
        kill(appliance.pid, SIGUSR1)
        try waitUntil("the supervisor writes to a new file") {
            (try? String(contentsOfFile: directory + "/app.log", encoding: .utf8))?.contains("log file reopened") == true
        }
        try waitUntil("both workers write to it") {
            let lines = ((try? String(contentsOfFile: directory + "/app.log", encoding: .utf8)) ?? "").split(separator: "\n").filter { $0.contains("log file reopened") }
            return Set(lines.compactMap { LoggingTests.fields($0)["slot"] }) == ["0", "1"]
        }
        for _ in 0..<20 { _ = try HTTPExchange.request("GET", "/api/v1/notes", port: appliance.port) }
        let fresh = try String(contentsOfFile: directory + "/app.log", encoding: .utf8)
        let served = fresh.split(separator: "\n").map(LoggingTests.fields).filter { $0["route"] == "/api/v1/notes" }
        #expect(served.count == 20)
        #expect(Set(served.compactMap { $0["slot"] }).count == 2, "both workers log to the new file")
        #expect(!(try String(contentsOfFile: directory + "/app.log.1", encoding: .utf8)).contains("route=/api/v1/notes"))
    }

    @Test func metricsAreTotalsOverEveryWorkerAndNeverGoBackwards() throws {
        let appliance = try Appliance(environment: ["WORKERS": "2", "LOG_LEVEL": "debug"])
        let health = #"scribes_http_requests_total{route="/api/v1/assistant/health",method="GET",status="200"}"#
        for _ in 0..<40 {
            #expect(try HTTPExchange.request("GET", "/api/v1/assistant/health", port: appliance.port).status == 200)
        }
        let slots = Set(appliance.logLines(containing: "route=/api/v1/assistant/health").compactMap { LoggingTests.fields($0)["slot"] })
        #expect(slots == ["0", "1"], "both workers served some of the requests")
        let first = try HTTPExchange.request("GET", "/metrics", port: appliance.port)
        #expect(first.status == 200)
        #expect(first.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
        #expect(Self.value(in: first.body, health) == 40)
        #expect(first.body.contains("# TYPE scribes_http_requests_total counter"))
        #expect(!first.body.contains("pid"))

        usleep(1_500_000)  // workers report every second: SIGKILL loses only what a worker counted after its last report
        kill(try #require(appliance.workerPIDs().first), SIGKILL)
        try waitUntil("the slot is refilled") { appliance.logLines(containing: "worker ready").count == 3 }
        let afterKill = try HTTPExchange.request("GET", "/metrics", port: appliance.port).body
        #expect(Self.value(in: afterKill, health) == 40)
        let crashed = (0..<2).compactMap { Self.value(in: afterKill, #"scribes_worker_restarts_total{slot="\#($0)",reason="crashed"}"#) }
        #expect(crashed.reduce(0, +) == 1)

        kill(appliance.pid, SIGHUP)
        try waitUntil("the reload finishes") { !appliance.logLines(containing: "reload finished").isEmpty }
        for _ in 0..<10 { _ = try HTTPExchange.request("GET", "/api/v1/assistant/health", port: appliance.port) }
        let afterReload = try HTTPExchange.request("GET", "/metrics", port: appliance.port).body
        #expect(Self.value(in: afterReload, health) == 50)
        let metricsCalls = Self.value(in: afterReload, #"scribes_http_requests_total{route="/metrics",method="GET",status="200"}"#)
        #expect(metricsCalls == 2)
        let reloaded = (0..<2).compactMap { Self.value(in: afterReload, #"scribes_worker_restarts_total{slot="\#($0)",reason="reloaded"}"#) }
        #expect(reloaded == [1, 1])
    }

    @Test func metricsPortServesMetricsOnItsOwnListener() throws {
        let metricsPort = try freeLoopbackPort()
        let appliance = try Appliance(environment: ["WORKERS": "2", "METRICS_PORT": String(metricsPort)])
        // Health is 503 when a dependency misses its deadline on a loaded machine: count whatever it answered.
        let health = try HTTPExchange.request("GET", "/api/v1/assistant/health", port: appliance.port).status
        #expect(try HTTPExchange.request("GET", "/metrics", port: appliance.port).status == 404)
        let metrics = try HTTPExchange.request("GET", "/metrics", port: metricsPort)
        #expect(Self.value(in: metrics.body, #"scribes_http_requests_total{route="unmatched",method="GET",status="404"}"#) == 1)
        #expect(metrics.status == 200)
        #expect(
            Self.value(in: metrics.body, #"scribes_http_requests_total{route="/api/v1/assistant/health",method="GET",status="\#(health)"}"#) == 1,
            "\(metrics.body.split(separator: "\n").filter { $0.hasPrefix("scribes_http_requests_total") })")
    }

    /// The value of one series in Prometheus text.
    static func value(in exposition: String, _ series: String) -> Double? {
        exposition.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }
}
