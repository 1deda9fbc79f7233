import Foundation
import Logging
import RedisClient
import Testing
import TestSupport

@testable import Auth
@testable import Limits

/// Every key a Lua script touches is declared in its KEYS: each script runs
/// against a real Redis under `MONITOR`, and every command it ran is asked
/// `COMMAND GETKEYS`.
@Suite struct LuaKeysTests {
    /// Every script the appliance runs; each must be seen running.
    static let scripts: [String: RedisScript] = [
        "admit": AdmitCall.script, "settle": SettleCall.script, "renew lease": RenewLeaseCall.script,
        "expired leases": ExpiredLeasesCall.script, "sweep": SweepCall.script, "charge": ChargeCall.script, "usage": UsageCall.script,
        "lookup": LookupCall.script, "store": StoreCall.script, "abandon": AbandonCall.script, "renew lock": RenewLockCall.script,
        "bump": BumpCall.script, "permit": RedisCircuitState.PermitCall.script, "record": RedisCircuitState.RecordCall.script,
        "state": RedisCircuitState.StateCall.script, "login check": LoginThrottle.CheckCall.script,
        "login failure": LoginThrottle.RecordFailureCall.script,
    ]

    @Test func everyScriptTouchesOnlyTheKeysItDeclares() async throws {
        let redis = try PrivateRedis()
        let client = RedisClient(configuration: .init(host: "127.0.0.1", port: redis.port, maxConnections: 2), logger: Logger(label: "test"))
        defer { client.shutdown() }
        let monitor = try Monitor(port: redis.port)
        try await Self.runEveryScript(client)
        let commands = try monitor.stop()

        let runs = ScriptRun.group(commands)
        let ran = Set(runs.filter { !$0.commands.isEmpty }.map(\.sha1))  // an EVALSHA refused with NOSCRIPT ran nothing
        for (name, script) in Self.scripts { #expect(ran.contains(script.sha1), "the \(name) script ran") }
        let cached = try await client.send(["SCRIPT", "EXISTS"] + Self.scripts.values.map(\.sha1), timeout: .seconds(2)).array?.compactMap(\.int)
        #expect(cached == Array(repeating: 1, count: Self.scripts.count), "each script's SHA-1 is the name Redis gave it (EVALSHA finds it)")
        var undeclared: [String] = []
        for run in runs { undeclared += try await run.undeclaredKeys(client) }
        #expect(undeclared.isEmpty, "touched without being declared: \(undeclared)")
    }

    /// The check itself catches a script that builds a key inside the Lua.
    @Test func theCheckFindsAnUndeclaredKey() async throws {
        let redis = try PrivateRedis()
        let client = RedisClient(configuration: .init(host: "127.0.0.1", port: redis.port, maxConnections: 1), logger: Logger(label: "test"))
        defer { client.shutdown() }
        let monitor = try Monitor(port: redis.port)
        let script = RedisScript("redis.call('SET', KEYS[1], 1); return redis.call('INCR', 'built:' .. ARGV[1])")
        _ = try await client.run(script, keys: ["declared"], arguments: ["inside"], timeout: .seconds(2))
        var undeclared: [String] = []
        for run in ScriptRun.group(try monitor.stop()) { undeclared += try await run.undeclaredKeys(client) }
        #expect(undeclared == ["built:inside"])
    }

    /// Drives every script through its branches: leads, hits, waits, refusals of each kind, a late admission,
    /// settlement, an expired lease swept, spend replayed, usage, the breaker's states and the login throttle.
    static func runEveryScript(_ client: RedisClient) async throws {
        let logger = Logger(label: "test")
        let policy = RateLimiter.Policy(
            perMinute: 3, perHour: 2000, perDay: 2000, globalHourly: 2000, globalConcurrent: 1, lease: .milliseconds(300), timeout: .seconds(2),
            failClosed: false, userDailyBudget: 10_000, globalDailyBudget: 1_000_000, failOpenBudget: 1_000_000)
        let limiter = RateLimiter(redis: client, policy: policy, logger: logger)
        let cache = AnswerCache(redis: client, ttl: .seconds(60), maxEntryBytes: 1000, timeout: .seconds(2), logger: logger)
        let question = CacheRequest(mode: .read, identity: "what is grace")

        // A lead, its answer stored, then a hit; another user leads, and a waiter and a refresher find its lock.
        let leader = try await limiter.admit(userID: 1, reserving: MicroUSD(1000), cache: question).get()
        guard case .lead(let slot) = leader.cache else { throw LuaKeysError("no lead: \(leader.cache)") }
        #expect(try await client.run(RenewLockCall(digest: slot.digest, token: slot.token ?? ""), timeout: .seconds(2)))
        #expect(await cache.store("{}", in: slot))
        _ = try await client.run(SettleCall(clockOffset: .zero, settlements: [.init(admissionID: leader.id, userID: 1, charge: 700, giveUpAt: .now)]), timeout: .seconds(2))
        let hit = try await limiter.admit(userID: 1, reserving: MicroUSD(1000), cache: question).get()
        #expect(hit.cache == .hit(entry: "{}", ttlMilliseconds: hit.cache.ttl))
        guard case .lead(let other) = await cache.consult(userID: 2, request: question, token: "t2") else { throw LuaKeysError("user 2 does not lead") }
        guard case .wait = await cache.consult(userID: 2, request: question, token: "t3") else { throw LuaKeysError("no wait") }
        guard case .refresh = await cache.consult(userID: 2, request: CacheRequest(mode: .refresh, identity: "what is grace"), token: "t4") else {
            throw LuaKeysError("no refresh")
        }
        await cache.abandon(other)
        await cache.invalidateNotes(userID: 1)
        try await AnswerCache.invalidate(nil, redis: client, timeout: .seconds(2))

        // Refusals: the minute window, the concurrency lease, the budget; a late admission.
        _ = try await limiter.admit(userID: 1, reserving: MicroUSD(1000)).get()  // holds the only lease; left to expire
        #expect(await limiter.admit(userID: 3, reserving: .zero).failure?.reason == .concurrency)
        #expect(await limiter.admit(userID: 1, reserving: .zero).failure?.reason == .user(.minute))
        try await Task.sleep(for: .milliseconds(400))
        #expect(await limiter.admit(userID: 4, reserving: MicroUSD(20_000)).failure?.reason == .userBudget)
        let late = AdmitCall(
            admission: Admission(id: "late", userID: 5, reservation: 0, usage: [], holdsRedisLease: true), policy: policy, deadline: 1, cache: nil,
            alreadyCounted: false)
        guard case .late = try await client.run(late, timeout: .seconds(2)) else { throw LuaKeysError("an admission past its deadline was not late") }

        // The expired lease swept in two steps, spend replayed, usage read, a lease renewed.
        try await limiter.sweepOnce()
        try await client.run(ChargeCall(clockOffset: .zero, userID: 6, micros: 250), timeout: .seconds(2))
        _ = try await limiter.usage(userID: 1)
        _ = try await client.run(RenewLeaseCall(clockOffset: .zero, admissionID: "gone", lease: .seconds(1)), timeout: .seconds(2))

        // The breaker opened, probed and closed; the login throttle counted and refused.
        let breaker = RedisCircuitState(
            upstream: "m@http://x", redis: client, failureThreshold: 1, resetTimeout: .milliseconds(100), probeTimeout: .seconds(1), timeout: .seconds(2))
        _ = try await breaker.permit(token: "a")
        try await breaker.record(failure: true, token: "a")
        _ = try await breaker.state()
        try await Task.sleep(for: .milliseconds(150))
        _ = try await breaker.permit(token: "b")
        try await breaker.record(failure: false, token: "b")
        let throttle = LoginThrottle(redis: client, limits: .init(perEmail: 1, perAddress: 5, windowSeconds: 60), timeout: .seconds(2), logger: logger)
        await throttle.recordFailure(email: "a@example.org", address: "127.0.0.1")
        await #expect(throws: AuthError.self) { try await throttle.checkAllowed(email: "a@example.org", address: "127.0.0.1") }
    }
}

struct LuaKeysError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

extension CacheState {
    /// A hit's ttl, to compare hits whatever time they have left.
    var ttl: Int {
        if case .hit(_, let ttl) = self { return ttl }
        return -1
    }
}

/// One script's run as MONITOR showed it: the keys its EVAL or EVALSHA
/// declared and the commands it ran.
struct ScriptRun {
    let sha1: String
    let declared: Set<String>
    var commands: [[String]] = []

    /// Each script command with the commands that followed it from Lua (Redis runs a script alone).
    static func group(_ lines: [MonitoredCommand]) -> [ScriptRun] {
        var runs: [ScriptRun] = []
        for line in lines {
            if line.fromScript {
                if !runs.isEmpty { runs[runs.count - 1].commands.append(line.words) }
            } else if let name = line.words.first?.uppercased(), name == "EVAL" || name == "EVALSHA", line.words.count >= 3,
                let count = Int(line.words[2]), line.words.count >= 3 + count
            {
                let sha1 = name == "EVAL" ? RedisScript(line.words[1]).sha1 : line.words[1]
                runs.append(ScriptRun(sha1: sha1, declared: Set(line.words[3..<(3 + count)])))
            }
        }
        return runs
    }

    /// The keys its commands touched (as `COMMAND GETKEYS` names them) that it did not declare.
    func undeclaredKeys(_ client: RedisClient) async throws -> [String] {
        var undeclared: [String] = []
        for words in commands {
            let keys = (try? await client.send(["COMMAND", "GETKEYS"] + words, timeout: .seconds(2)))?.array?.compactMap(\.string) ?? []
            undeclared += keys.filter { !declared.contains($0) }
        }
        return undeclared
    }
}

/// A command as MONITOR prints it: `1700000000.123456 [0 lua] "SET" "k" "v"`.
struct MonitoredCommand: Equatable {
    /// Run by a script (`[0 lua]`) rather than by a client.
    let fromScript: Bool
    let words: [String]

    init?(_ line: Substring) {
        guard let open = line.firstIndex(of: "["), let close = line[open...].firstIndex(of: "]") else { return nil }
        fromScript = line[open..<close].hasSuffix(" lua")
        words = Self.words(line[line.index(after: close)...])
    }

    /// The quoted words, unescaped (`\"`, `\\`, `\n`, `\r`, `\t`, `\a`, `\b`, `\xHH`).
    static func words(_ text: Substring) -> [String] {
        var words: [String] = [], word: [UInt8]? = nil
        var bytes = Array(text.utf8)[...]
        while let byte = bytes.popFirst() {
            switch (byte, word) {
            case (UInt8(ascii: "\""), nil): word = []
            case (UInt8(ascii: "\""), let done?): words.append(String(decoding: done, as: UTF8.self)); word = nil
            case (UInt8(ascii: "\\"), _?):
                let escaped = bytes.popFirst() ?? 0
                switch escaped {
                case UInt8(ascii: "n"): word?.append(10)
                case UInt8(ascii: "r"): word?.append(13)
                case UInt8(ascii: "t"): word?.append(9)
                case UInt8(ascii: "a"): word?.append(7)
                case UInt8(ascii: "b"): word?.append(8)
                case UInt8(ascii: "x"):
                    let hex = String(decoding: bytes.prefix(2), as: UTF8.self)
                    bytes = bytes.dropFirst(2)
                    word?.append(UInt8(hex, radix: 16) ?? 0)
                default: word?.append(escaped)
                }
            case (_, _?): word?.append(byte)
            case (_, nil): break
            }
        }
        return words
    }
}

/// `redis-cli MONITOR` writing to a file until stopped.
final class Monitor {
    let port: Int
    let pid: pid_t
    let path: String

    init(port: Int) throws {
        self.port = port
        path = try ProcessRunner.emptyDirectory() + "/monitor"
        pid = try ProcessRunner.spawn("/usr/bin/redis-cli", ["-p", String(port), "MONITOR"], logPath: path)
        try waitUntil("MONITOR is on") { ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").hasPrefix("OK") }
    }

    /// Stops monitoring (after the last command has reached the file) and returns what it saw.
    func stop() throws -> [MonitoredCommand] {
        let marker = "monitor-end-\(pid)"
        _ = try? ProcessRunner.run("/usr/bin/redis-cli", ["-p", String(port), "ECHO", marker])
        try waitUntil("MONITOR saw the end") { ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").contains(marker) }
        kill(pid, SIGTERM)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return text.split(separator: "\n").compactMap(MonitoredCommand.init)
    }
}
