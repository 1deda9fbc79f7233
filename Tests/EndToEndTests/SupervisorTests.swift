import Foundation
import Testing
import TestSupport

/// The supervisor and its workers, through the real binary.
@Suite struct SupervisorTests {
    @Test func twoWorkersShareOnePortEvenly() throws {
        let appliance = try Appliance(environment: ["WORKERS": "2", "LOG_LEVEL": "debug"])
        #expect(appliance.workerPIDs().count == 2)
        for pid in appliance.workerPIDs() {  // what ps shows: named, though run through /proc/self/exe
            let commandLine = try String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)
            #expect(commandLine == "scribes-assistant\0worker\0")
        }
        for _ in 0..<200 {  // each on a fresh connection (Connection: close)
            #expect(try HTTPExchange.request("GET", "/api/v1/notes", port: appliance.port).status == 401)
        }
        let served = appliance.log.split(separator: "\n").map(LoggingTests.fields).filter { $0["route"] == "/api/v1/notes" && $0["msg"] == "request" }
        let bySlot = (0..<2).map { slot in served.filter { $0["slot"] == "\(slot)" }.count }
        #expect(bySlot.reduce(0, +) == 200)
        #expect(bySlot.allSatisfy { (75...125).contains($0) }, "per slot: \(bySlot)")
    }

    @Test func killedWorkerIsReplacedAndNoLaterRequestFails() throws {
        let appliance = try Appliance(environment: ["WORKERS": "2"])
        let before = appliance.workerPIDs()
        #expect(before.count == 2)
        let victim = try #require(before.first)
        let killedAt = Date()
        kill(victim, SIGKILL)
        var replacedAfter: Double?
        try waitUntil("a replacement worker reports ready", timeout: .seconds(5)) {
            let ready = appliance.log.split(separator: "\n").contains { line in
                line.contains("worker ready") && !before.contains { LoggingTests.fields(line)["pid"] == "\($0)" }
            }
            if ready, replacedAfter == nil { replacedAfter = Date().timeIntervalSince(killedAt) }
            return ready
        }
        #expect(try #require(replacedAfter) < 0.5, "replaced after \(replacedAfter ?? -1) s\n\(appliance.log.split(separator: "\n").suffix(12).joined(separator: "\n"))")
        for _ in 0..<50 {
            #expect(try HTTPExchange.request("GET", "/api/v1/assistant/health", port: appliance.port).status == 200)
        }
        #expect(appliance.workerPIDs().count == 2)
        #expect(appliance.logLines(containing: "worker exited").map(LoggingTests.fields).contains { $0["pid"] == "\(victim)" && $0["exit"] == "signal=9" })
    }

    @Test func killingTheSupervisorTakesTheWorkersDownWithinASecond() throws {
        let appliance = try Appliance(environment: ["WORKERS": "2"])
        let workers = appliance.workerPIDs()
        #expect(workers.count == 2)
        kill(appliance.pid, SIGKILL)
        var status: Int32 = 0
        waitpid(appliance.pid, &status, 0)
        try waitUntil("every worker exits", timeout: .seconds(1)) { workers.allSatisfy(hasExited) }
        #expect(throws: (any Error).self) { try HTTPExchange.request("GET", "/api/v1/assistant/health", port: appliance.port) }
    }

    @Test func workersThatCannotBootMakeTheSupervisorBackOffThenGiveUp() async throws {
        try await TestDatabase.with { database in
            let environment = try Appliance.baseEnvironment(databaseURL: database.url)
            _ = try ProcessRunner.scribes(["migrate"], environment: environment)
            let start = Date()
            let output = try ProcessRunner.scribes(
                ["serve"], environment: environment.merging(["WORKERS": "2", "SCRIBES_TEST_HOOKS": "worker-exit-at-start"]) { $1 })
            let elapsed = Date().timeIntervalSince(start)
            #expect(output.status == 1)
            #expect(output.standardError.contains("every worker keeps failing to boot; giving up"))
            // Backoff: 5 failures per slot wait 0.1 + 0.2 + 0.4 + 0.8 s between starts, not a spin.
            let starts = output.standardError.components(separatedBy: "worker started").count - 1
            #expect(starts <= 12, "\(starts) worker starts")
            #expect(elapsed > 1.4 && elapsed < 30, "gave up after \(elapsed) s")
        }
    }

    @Test func healthSaysDrainingForTheShutdownDelayThenTheApplianceExits() throws {
        let appliance = try Appliance(environment: ["WORKERS": "2", "SHUTDOWN_DELAY": "2"])
        #expect(try HTTPExchange.request("GET", "/api/v1/assistant/health", port: appliance.port).status == 200)
        let stoppedAt = Date()
        kill(appliance.pid, SIGTERM)
        try waitUntil("every worker reports draining", timeout: .seconds(1.5)) {
            (0..<10).allSatisfy { _ in
                let health = try? HTTPExchange.request("GET", "/api/v1/assistant/health", port: appliance.port)
                return health?.status == 503 && health?.json["status"] as? String == "draining"
            }
        }
        // Still serving while draining.
        #expect(try HTTPExchange.request("GET", "/api/v1/notes", port: appliance.port).status == 401)
        let (status, _) = appliance.terminate()
        #expect(status == 0)
        let took = Date().timeIntervalSince(stoppedAt)
        #expect(took >= 2 && took < 2 + 30 + 1, "stopped after \(took) s")
    }

    @Test func sigtermLetsRequestsInFlightFinishAndExitsZero() throws {
        // A password hashed at cost 12 makes each login a slow request (bcrypt), so
        // the logins below are still being answered when SIGTERM arrives.
        let appliance = try Appliance(users: ["erin@example.com": "password123"], environment: ["WORKERS": "2", "BCRYPT_COST": "12"])
        let workers = appliance.workerPIDs()
        let login = HTTPExchange.requestText("POST", "/api/v1/auth/login", port: appliance.port, body: #"{"email":"erin@example.com","password":"password123"}"#)
        let started = Date()
        let pending = try (0..<6).map { _ in try PendingExchange(login, port: appliance.port) }
        usleep(100_000)  // the workers accept within microseconds; bcrypt keeps them busy much longer
        let (status, seconds) = appliance.terminate()
        let answers = try pending.map { try $0.finish() }
        #expect(status == 0)
        #expect(seconds < 30 + 1)
        #expect(answers.map(\.status) == Array(repeating: 200, count: 6), "every request in flight is answered")
        #expect(answers.allSatisfy { $0.json["access_token"] != nil })
        #expect(Date().timeIntervalSince(started) > 0.1)
        #expect(workers.allSatisfy(hasExited))
    }
}

/// Whether `pid` is gone or a zombie (reparented orphans may not be reaped at once).
func hasExited(_ pid: pid_t) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return true }
    return stat[stat.index(close, offsetBy: 2)] == "Z"
}
