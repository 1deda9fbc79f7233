import Foundation
import Synchronization
import Testing
import TestSupport

/// Faults while traffic flows (issue 18's fault-injection suite): 2 workers,
/// Redis limiting with a durable Redis of the test's own, a paid fake
/// upstream (every call 0.002075 USD), no answer cache, and four clients
/// asking "grace" on fresh connections for the whole scenario, each answer recorded. After
/// the fault: which statuses came back (a 503 always with Retry-After),
/// connections refused or reset, the longest time without an answer, no
/// lease and no reservation left, and the money: spent against the sum of
/// the answered costs. Figures go to docs/reliability.md.
@Suite(.serialized) struct ChaosTests {
    /// A steady load of `clients` threads, each asking again on a new
    /// connection as soon as it is answered, until stopped.
    final class SteadyLoad: Sendable {
        struct Tally: Sendable {
            var statuses: [Int: Int] = [:]
            /// Requests lost on a connection that was made (reset, closed, or timed out).
            var connectionErrors = 0
            /// When each was lost.
            var lostAt: [ContinuousClock.Instant] = []
            /// Connections refused: nothing was listening, nothing was sent.
            var refused = 0
            var answeredMicroUSD = 0
            /// 503s without Retry-After.
            var undocumented503s = 0
            /// When each 200 came, for the longest gap between answers.
            var answeredAt: [ContinuousClock.Instant] = []

            var longestGap: Duration {
                let times = answeredAt.sorted()
                return zip(times, times.dropFirst()).map { $1 - $0 }.max() ?? .zero
            }

            var summary: String {
                let counts = statuses.sorted { $0.key < $1.key }.map { "\($0.value) × \($0.key)" }.joined(separator: ", ")
                return "\(statuses.values.reduce(0, +) + connectionErrors) sent: \(counts), \(connectionErrors) connection errors, "
                    + "\(refused) refused, longest gap \(longestGap)"
            }
        }

        private let tally = Mutex(Tally())
        private let running = Atomic(true)
        private let finished = Atomic(0)
        let clients: Int

        init(port: Int, token: String, clients: Int = 4) {
            self.clients = clients
            for _ in 0..<clients {
                Thread { [self] in
                    while running.load(ordering: .relaxed) {
                        // The same question every time: the answer cache is off, so each is an upstream call.
                        record(Result {
                            try HTTPExchange.request(
                                "POST", "/api/v1/assistant/query", port: port, body: #"{"query":"grace"}"#, headers: ["Authorization": "Bearer \(token)"])
                        })
                    }
                    finished.add(1, ordering: .relaxed)
                }.start()
            }
        }

        private func record(_ result: Result<HTTPExchange, any Error>) {
            tally.withLock { tally in
                let response: HTTPExchange
                switch result {
                case .success(let exchange): response = exchange
                case .failure(let error as TestEnvironmentError) where error.message.hasPrefix("cannot connect"):
                    tally.refused += 1
                    return
                case .failure:
                    tally.connectionErrors += 1
                    tally.lostAt.append(.now)
                    return
                }
                tally.statuses[response.status, default: 0] += 1
                if response.status == 503, response.headers["retry-after"] == nil { tally.undocumented503s += 1 }
                if response.status == 200 {
                    tally.answeredAt.append(.now)
                    let cost = (response.json["metadata"] as? [String: Any])?["api_cost_usd"] as? Double ?? 0
                    tally.answeredMicroUSD += Int((cost * 1_000_000).rounded())
                }
            }
        }

        func stop() throws -> Tally {
            running.store(false, ordering: .relaxed)
            try waitUntil("the load's clients finish", timeout: .seconds(45)) { finished.load(ordering: .relaxed) == clients }
            return tally.withLock { $0 }
        }
    }

    /// One upstream call: (321 × 0.005 + 47 × 0.01) / 1000 USD.
    static let callMicroUSD = 2075

    let redis: PrivateRedis
    let upstream: FakeUpstream

    init() throws {
        redis = try PrivateRedis(durable: true)
        upstream = try FakeUpstream()
        upstream.behavior.latency = .milliseconds(50)
    }

    func appliance(
        _ environment: [String: String?] = [:], serveEnvironment: [String: String] = [:], adminURL: String? = nil
    ) throws -> (Appliance, String) {
        let appliance = try Appliance(
            library: try UpstreamTests.library.get(), users: ["ann@example.com": "password123"],
            environment: settings(environment), serveEnvironment: serveEnvironment, adminURL: adminURL)
        return (appliance, try EndToEndTests.token("ann@example.com", "password123", port: appliance.port))
    }

    /// The appliance's settings: 2 workers, limits on, the paid fake upstream; `environment` overrides them.
    func settings(_ environment: [String: String?]) -> [String: String?] {
        [
            "WORKERS": "2", "RATE_LIMITING_ENABLED": "true", "REDIS_PORT": String(redis.port),
            "RATE_LIMIT_PER_MINUTE": "100000", "RATE_LIMIT_PER_HOUR": "100000", "RATE_LIMIT_PER_DAY": "100000",
            "GLOBAL_HOURLY_LIMIT": "100000", "USER_DAILY_COST_LIMIT": "50", "GLOBAL_DAILY_COST_LIMIT": "100",
            "LLM_PROVIDER": "openai", "LLM_BASE_URL": upstream.baseURL, "LLM_MODEL": "fake-model",
            "LLM_PRICE_INPUT_PER_1K": "0.005", "LLM_PRICE_OUTPUT_PER_1K": "0.01", "LLM_MAX_TOKENS": "100",
            "CONTEXT_MAX_TOKENS": "200", "RETRIEVAL_TOP_K": "2",
            "LLM_TIMEOUT_SECONDS": "2", "GRACEFUL_TIMEOUT": "10",
            "LLM_BREAKER_FAILURES": "5", "LLM_BREAKER_RESET_SECONDS": "2",
        ].merging(environment) { $1 }
    }

    func value(_ arguments: String...) throws -> String {
        try redis.cli(arguments).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// USD spent today by everyone, in micro-USD.
    func spentMicroUSD() throws -> Int {
        Int(((Double(try value("GET", "ratelimit:cost:global:daily")) ?? 0) * 1_000_000).rounded())
    }

    /// Micro-USD charged beyond the answered costs and the recovery check's own call (`checks` of them).
    func overcharge(_ tally: SteadyLoad.Tally, checks: Int = 1) throws -> Int {
        try spentMicroUSD() - checks * Self.callMicroUSD - tally.answeredMicroUSD
    }

    /// Spent today is exactly what the answers cost (and the recovery check's
    /// call), once any spend made while failing open has reached Redis.
    func expectSpentIsAnswered(_ tally: SteadyLoad.Tally, _ why: String, checks: Int = 1) throws {
        try waitUntil("the fail-open spend reaches Redis", timeout: .seconds(10)) { try overcharge(tally, checks: checks) >= 0 }
        let extra = try overcharge(tally, checks: checks)
        #expect(extra == 0, "\(why): \(extra) µUSD more than the \(tally.answeredMicroUSD) µUSD answered")
    }

    /// Runs the load for a second, then `fault`, then two more seconds; the tally.
    func underLoad(_ name: String, port: Int, token: String, _ fault: () throws -> Void) throws -> SteadyLoad.Tally {
        let load = SteadyLoad(port: port, token: token)
        usleep(1_000_000)
        try fault()
        usleep(2_000_000)
        let tally = try load.stop()
        print("chaos: \(name): \(tally.summary)")
        return tally
    }

    /// What every scenario must end with: documented statuses only, no lease or
    /// reservation left, serving again.
    func expectRecovered(_ tally: SteadyLoad.Tally, statuses: Set<Int>, appliance: Appliance, token: String) throws {
        #expect(Set(tally.statuses.keys).isSubset(of: statuses), "\(tally.summary)")
        #expect(tally.undocumented503s == 0)
        try expectNothingHeld()
        let after = try HTTPExchange.request(
            "POST", "/api/v1/assistant/query", port: appliance.port, body: #"{"query":"grace"}"#, headers: ["Authorization": "Bearer \(token)"])
        #expect(after.status == 200, "\(after.body)")
    }

    func expectNothingHeld() throws {
        try waitUntil("no lease and no reservation is left", timeout: .seconds(10)) {
            let inFlight = Int(try value("GET", "ratelimit:global:concurrent")) ?? 0
            return try inFlight == 0 && value("HLEN", "ratelimit:cost:reservations") == "0"
        }
    }

    /// Charged at most one reservation (0.003 USD at most here) per request lost or cut short.
    func expectOverchargeAtMostReservations(_ tally: SteadyLoad.Tally, lost: Int) throws {
        let extra = try overcharge(tally)
        #expect(extra >= 0 && extra <= lost * 3000, "\(extra) µUSD for \(lost) requests lost or cut short")
    }

    @Test func redisKilledAndRestarted() throws {
        let (appliance, token) = try appliance()
        let tally = try underLoad("Redis killed for 2 s", port: appliance.port, token: token) {
            try redis.stop()
            usleep(2_000_000)
            try redis.start()
        }
        try expectRecovered(tally, statuses: [200], appliance: appliance, token: token)
        #expect(tally.connectionErrors == 0)
        try expectSpentIsAnswered(tally, "the spend made while Redis was away is added when it is back")
    }

    @Test func redisPausedForFiveSeconds() throws {
        let (appliance, token) = try appliance()
        let tally = try underLoad("Redis paused (SIGSTOP) for 5 s", port: appliance.port, token: token) {
            let pid = try #require(redis.pid)
            kill(pid, SIGSTOP)
            usleep(5_000_000)
            kill(pid, SIGCONT)
        }
        try expectRecovered(tally, statuses: [200], appliance: appliance, token: token)
        #expect(tally.connectionErrors == 0)
        // A request waits for a stalled Redis once (its admission's
        // RATE_LIMIT_TIMEOUT_MS), then calls fail at once while a reply is
        // overdue (before: the shared breaker's permit waited again, 2.02 s).
        #expect(tally.longestGap < .milliseconds(1500), "fails open after RATE_LIMIT_TIMEOUT_MS: \(tally.longestGap)")
        try expectSpentIsAnswered(tally, "the spend made while Redis stalled is added when it answers")
    }

    @Test func upstreamFailingThenBack() throws {
        let (appliance, token) = try appliance()
        let tally = try underLoad("upstream answering 500 for 3 s", port: appliance.port, token: token) {
            upstream.behavior.mode = .status(500)
            usleep(3_000_000)
            upstream.behavior.mode = .answer
            usleep(2_500_000)  // the breaker's reset (2 s) and its probe
        }
        try expectRecovered(tally, statuses: [200, 502, 503], appliance: appliance, token: token)
        #expect(tally.statuses[503, default: 0] > 0, "the breaker opened")
        try expectSpentIsAnswered(tally, "a failed call is refunded")
    }

    @Test func upstreamHangingThenBack() throws {
        let (appliance, token) = try appliance()
        let tally = try underLoad("upstream hanging for 3 s", port: appliance.port, token: token) {
            upstream.behavior.mode = .hang
            usleep(3_000_000)
            upstream.behavior.mode = .answer
            usleep(2_500_000)
        }
        try expectRecovered(tally, statuses: [200, 503, 504], appliance: appliance, token: token)
        #expect(tally.statuses[504, default: 0] > 0)
        // A call cut short may have been billed: its reservation is charged, no more.
        try expectOverchargeAtMostReservations(tally, lost: tally.statuses[504, default: 0])
    }

    @Test func aWorkerKilled() throws {
        let (appliance, token) = try appliance(["CONCURRENCY_LEASE_SECONDS": "3"])
        let tally = try underLoad("a worker SIGKILLed", port: appliance.port, token: token) {
            kill(try #require(appliance.workerPIDs().first), SIGKILL)
        }
        try expectRecovered(tally, statuses: [200], appliance: appliance, token: token)
        #expect(tally.connectionErrors <= 4, "only the killed worker's requests in flight: \(tally.connectionErrors)")
        // Its reservations became spend at their reserved amount when their leases expired.
        try expectOverchargeAtMostReservations(tally, lost: tally.connectionErrors)
    }

    @Test func threeReloadsInARow() throws {
        // A short lease: a request lost to a reload (below) gives its slot back within the check's wait.
        let (appliance, token) = try appliance(["CONCURRENCY_LEASE_SECONDS": "3"])
        let tally = try underLoad("3 SIGHUPs 300 ms apart", port: appliance.port, token: token) {
            for _ in 0..<3 {
                kill(appliance.pid, SIGHUP)
                usleep(300_000)
            }
            try waitUntil("the reloads are done", timeout: .seconds(20)) { appliance.logLines(containing: "reload finished").count >= 2 }
        }
        try expectRecovered(tally, statuses: [200], appliance: appliance, token: token)
        // Seen once in five runs with net.ipv4.tcp_migrate_req=0: one request's
        // connection, queued on a draining worker's socket, was reset.
        if Self.listenerQueuesMigrate {
            #expect(tally.connectionErrors == 0, "a reload loses no request")
        } else {
            withKnownIssue("net.ipv4.tcp_migrate_req is 0: a connection queued on a draining worker is reset", isIntermittent: true) {
                #expect(tally.connectionErrors == 0, "a reload loses no request")
            }
        }
        #expect(tally.connectionErrors <= 1)
        // A lost request's reservation becomes spend when its lease expires; nothing else is charged.
        try expectOverchargeAtMostReservations(tally, lost: tally.connectionErrors)
    }

    @Test func postgresKilledAndRestarted() throws {
        let postgres = try PrivatePostgres()
        try withExtendedLifetime(postgres) {
            let (appliance, token) = try appliance(adminURL: postgres.url)
            let tally = try underLoad("PostgreSQL killed (immediate shutdown) for 2 s", port: appliance.port, token: token) {
                try postgres.stop(mode: "immediate")
                usleep(2_000_000)
                try postgres.start()
            }
            try expectRecovered(tally, statuses: [200, 503], appliance: appliance, token: token)
            #expect(tally.statuses[503, default: 0] > 0, "the outage was answered 503 with Retry-After")
            #expect(tally.connectionErrors == 0)
            try expectSpentIsAnswered(tally, "a request refused for the database costs nothing")
        }
    }

    @Test(arguments: [FakeUpstream.Mode.reset, .malformed, .trickle(interval: .milliseconds(20))])
    func upstreamMisbehavingThenBack(_ mode: FakeUpstream.Mode) throws {
        let (appliance, token) = try appliance()
        let tally = try underLoad("upstream \(mode) for 3 s", port: appliance.port, token: token) {
            upstream.behavior.mode = mode
            usleep(3_000_000)
            upstream.behavior.mode = .answer
            usleep(2_500_000)
        }
        try expectRecovered(tally, statuses: [200, 502, 503, 504], appliance: appliance, token: token)
        let failedCalls = tally.statuses[502, default: 0] + tally.statuses[504, default: 0]
        #expect(failedCalls > 0, "the fault was seen")
        #expect(tally.connectionErrors == 0)
        try expectOverchargeAtMostReservations(tally, lost: failedCalls)
    }

    @Test func aWorkerHung() throws {
        let (appliance, token) = try appliance(["WORKER_TIMEOUT": "2", "CONCURRENCY_LEASE_SECONDS": "3"])
        let hung = try #require(appliance.workerPIDs().first)
        let tally = try underLoad("a worker SIGSTOPped (WORKER_TIMEOUT=2)", port: appliance.port, token: token) {
            kill(hung, SIGSTOP)
            try waitUntil("the supervisor kills the hung worker", timeout: .seconds(10)) { !appliance.workerPIDs().contains(hung) }
        }
        try expectRecovered(tally, statuses: [200], appliance: appliance, token: token)
        #expect(tally.connectionErrors <= 4, "only the requests the hung worker held: \(tally.connectionErrors)")
        #expect(tally.longestGap < .seconds(5), "WORKER_TIMEOUT, then a new worker")
        try expectOverchargeAtMostReservations(tally, lost: tally.connectionErrors)
    }

    @Test func theSupervisorKilledAndANewOneStarted() throws {
        let (appliance, token) = try appliance(["CONCURRENCY_LEASE_SECONDS": "3"])
        var successor: pid_t = 0
        defer {
            kill(successor, SIGTERM)
            waitpid(successor, nil, 0)
        }
        let tally = try underLoad("the supervisor SIGKILLed and a new one started at once", port: appliance.port, token: token) {
            kill(appliance.pid, SIGKILL)
            successor = try ProcessRunner.spawn(
                TestEnvironment.binaryPath, ["serve"],
                environment: try Appliance.baseEnvironment(databaseURL: appliance.databaseURL)
                    .merging(settings(["PORT": String(appliance.port), "CONCURRENCY_LEASE_SECONDS": "3"])) { $1 },
                logPath: appliance.directory + "/successor.log")
        }
        try expectRecovered(tally, statuses: [200], appliance: appliance, token: token)
        // Each orphaned worker closes every socket it holds as it stops, so
        // what the kernel queued there moves to the new workers at once
        // (before: a copy kept for covering held them, 9.9 s in 2 of 6 runs).
        #expect(tally.longestGap < .seconds(2))
        if Self.listenerQueuesMigrate {
            #expect(tally.connectionErrors == 0, "connections queued on the old workers move to the new ones")
        } else {
            withKnownIssue("net.ipv4.tcp_migrate_req is 0: connections queued on a closing listener are reset") {
                #expect(tally.connectionErrors == 0)
            }
        }
        try expectOverchargeAtMostReservations(tally, lost: tally.connectionErrors)
    }

    @Test func sigtermUnderLoad() throws {
        let (appliance, token) = try appliance()
        let load = SteadyLoad(port: appliance.port, token: token)
        usleep(1_000_000)
        let stopping = ContinuousClock.now
        let (status, seconds) = appliance.terminate()
        let tally = try load.stop()
        print("chaos: SIGTERM under load: exit \(status) after \(seconds) s; \(tally.summary)")
        #expect(status == 0)
        #expect(Set(tally.statuses.keys).isSubset(of: [200, 503]), "\(tally.summary)")
        #expect(tally.undocumented503s == 0)
        // Known: each client's last connection, made as the port closed, is
        // closed unanswered (4 of 4 in every run), though nothing was charged
        // for it (below): the last listener's queue has nowhere to move.
        withKnownIssue("connections made as the last worker stops are closed unanswered", isIntermittent: true) {
            #expect(tally.connectionErrors == 0, "every request accepted was answered")
        }
        // A client whose connection was closed connects again at once and may lose that one too while the last
        // listener still queues (5 errors from 4 clients in one run): what holds is that none is lost before the stop.
        #expect(tally.lostAt.allSatisfy { $0 >= stopping }, "no request is lost before SIGTERM")
        try expectNothingHeld()
        try expectSpentIsAnswered(tally, "the stop settles every answer", checks: 0)
    }

    /// A worker whose descriptor table filled died: libdispatch traps when
    /// its once-a-second `open` of `/proc/<thread>/stat` fails while work is
    /// queued (the CI run that lost 2 requests and held their leases). Each
    /// worker gets room for 4 connections above the reserve it states at
    /// start, then 200 idle connections arrive: it must stop accepting with
    /// descriptors to spare, and serve the queue once they close.
    @Test func descriptorLimitReached() throws {
        let (appliance, token) = try appliance()
        let workers = appliance.workerPIDs()
        let reserve = try Self.statedReserve(appliance)
        var limits: [pid_t: Int] = [:]
        for pid in workers {
            limits[pid] = try Self.openDescriptors(pid) + reserve.descriptors + 4 * reserve.perConnection
            let limit = try ProcessRunner.run("/usr/bin/prlimit", ["--pid", "\(pid)", "--nofile=\(limits[pid]!):\(limits[pid]!)"])
            #expect(limit.status == 0, "\(limit.standardError)")
        }
        var peaks: [pid_t: Int] = [:]
        let tally = try underLoad("descriptor limit: 200 idle connections, room for 4 per worker", port: appliance.port, token: token) {
            let idle = (0..<200).compactMap { _ in try? connectLoopback(port: appliance.port) }
            for _ in 0..<40 {
                for pid in workers { peaks[pid] = max(peaks[pid] ?? 0, (try? Self.openDescriptors(pid)) ?? 0) }
                usleep(50_000)
            }
            idle.forEach { close($0) }
        }
        for pid in workers {
            #expect(limits[pid]! - peaks[pid]! >= 16, "worker \(pid) kept descriptors free: \(peaks[pid]!) open of \(limits[pid]!)")
        }
        #expect(appliance.workerPIDs() == workers, "no worker crashed")
        #expect(appliance.logLines(containing: "Connection limit reached").count == workers.count, "each worker said it stopped accepting")
        #expect(appliance.logLines(containing: "Too many open files").isEmpty, "\(appliance.logLines(containing: "Too many open files"))")
        try expectRecovered(tally, statuses: [200], appliance: appliance, token: token)
        #expect(tally.connectionErrors == 0)
        #expect(tally.longestGap < .seconds(4), "serving again once the idle connections close")
        try expectSpentIsAnswered(tally, "nothing failed, nothing is charged twice")
    }

    /// The descriptors each worker keeps in reserve and needs per connection, as its start line says.
    static func statedReserve(_ appliance: Appliance) throws -> (descriptors: Int, perConnection: Int) {
        let line = try #require(appliance.logLines(containing: "in reserve").first)
        let match = try #require(line.firstMatch(of: /(\d+) in reserve, (\d+) per connection/))
        return (Int(match.1)!, Int(match.2)!)
    }

    static func openDescriptors(_ pid: pid_t) throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count
    }

    @Test func logFileOnAFullDisk() throws {
        let (appliance, token) = try appliance(["LOG_FILE": "/dev/full", "LOG_LEVEL": "info"])
        let workers = appliance.workerPIDs()
        let tally = try underLoad("LOG_FILE on a full disk (/dev/full: every write ENOSPC)", port: appliance.port, token: token) {}
        try expectRecovered(tally, statuses: [200], appliance: appliance, token: token)
        #expect(tally.connectionErrors == 0)
        #expect(appliance.workerPIDs() == workers, "no worker crashed")
        try expectSpentIsAnswered(tally, "logging that fails changes nothing")
    }

    @Test(arguments: [3600, -3600])
    func theClockStepped(by seconds: Int) throws {
        let skew = try ProcessRunner.emptyDirectory() + "/skew"
        try "0".write(toFile: skew, atomically: true, encoding: .utf8)
        let (appliance, token) = try appliance(serveEnvironment: ["LD_PRELOAD": try WallClockSkew.library(), WallClockSkew.variable: skew])
        let tally = try underLoad("the host clock stepped \(seconds) s", port: appliance.port, token: token) {
            try "\(seconds)".write(toFile: skew, atomically: true, encoding: .utf8)
        }
        // Tokens are wall-clock claims: stepped an hour either way, a token
        // issued before is expired or from the future. Logging in again works.
        if seconds > 0 { #expect(tally.statuses[401, default: 0] > 0, "the step took effect: the old token expired") }
        let fresh = try EndToEndTests.token("ann@example.com", "password123", port: appliance.port)
        try expectRecovered(tally, statuses: [200, 401], appliance: appliance, token: fresh)
        #expect(tally.connectionErrors == 0)
        // The windows and budgets run on Redis's clock: the step changes no charge.
        try expectSpentIsAnswered(tally, "the limits do not read this host's clock")
    }

    /// Whether connections queued on a closing listener move to another
    /// listener of the port (Linux's net.ipv4.tcp_migrate_req, which the
    /// package turns on; `scripts/test` does too when it can).
    static let listenerQueuesMigrate =
        (try? String(contentsOfFile: "/proc/sys/net/ipv4/tcp_migrate_req", encoding: .utf8))?.hasPrefix("1") == true
}
