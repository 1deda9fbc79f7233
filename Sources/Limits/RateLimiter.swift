import DurationUnits
import Logging
import RedisClient
import Synchronization

/// The per-user windows, the global hourly limit and the global concurrency
/// lease, decided in Redis by one atomic script per request (see
/// ``LimiterScripts``), with an in-memory fallback per worker while Redis is
/// unreachable or slower than RATE_LIMIT_TIMEOUT_MS.
public final class RateLimiter: Sendable {
    public struct Policy: Sendable {
        public var perMinute: Int
        public var perHour: Int
        public var perDay: Int
        public var globalHourly: Int
        public var globalConcurrent: Int
        public var lease: Duration
        /// The longest a request waits for Redis.
        public var timeout: Duration
        /// Refuse (503) instead of limiting in memory when Redis is away.
        public var failClosed: Bool
        /// Daily budgets per user and for everybody, in micro-USD.
        public var userDailyBudget: Int
        public var globalDailyBudget: Int
        /// The paid spend (micro-USD) one worker allows while Redis is away.
        public var failOpenBudget: Int
        /// Added to Redis's clock by every script: zero except in tests that move the day.
        public var clockOffset: Duration = .zero

        public init(
            perMinute: Int, perHour: Int, perDay: Int, globalHourly: Int, globalConcurrent: Int, lease: Duration, timeout: Duration,
            failClosed: Bool, userDailyBudget: Int, globalDailyBudget: Int, failOpenBudget: Int
        ) {
            self.perMinute = perMinute
            self.perHour = perHour
            self.perDay = perDay
            self.globalHourly = globalHourly
            self.globalConcurrent = globalConcurrent
            self.lease = lease
            self.timeout = timeout
            self.failClosed = failClosed
            self.userDailyBudget = userDailyBudget
            self.globalDailyBudget = globalDailyBudget
            self.failOpenBudget = failOpenBudget
        }

        var windowLimits: [Int] { [perMinute, perHour, perDay] }
    }

    let redis: RedisClient
    public let policy: Policy
    let logger: Logger
    let fallback: InMemoryLimiter
    let settlements: SettlementQueue
    let clock = RedisClock()
    let warnings: LimiterWarnings

    public init(redis: RedisClient, policy: Policy, logger: Logger) {
        self.redis = redis
        self.policy = policy
        self.logger = logger
        self.fallback = InMemoryLimiter(policy: policy)
        let warnings = LimiterWarnings(logger: logger)
        self.warnings = warnings
        self.settlements = SettlementQueue { warnings.warn($0) }
    }

    /// Admits a request of `userID` that reserves `reservation` micro-USD of
    /// both daily budgets, or says which limit refuses it.
    public func admit(userID: Int, reserving reservation: Int) async -> Result<Admission, Rejection> {
        let admission = Admission(id: Self.admissionID(), userID: userID, reservation: reservation, usage: [], holdsRedisLease: true)
        do throws(RedisError) {
            if let decision = try await admitInRedis(admission) { return decision }
            // Refused as late although answered in time: Redis's clock moved. Once more, on the corrected clock.
            if let decision = try await admitInRedis(admission) { return decision }
            throw RedisError(code: .protocolError, message: "the admission script keeps refusing its deadline")
        } catch {
            if error.code == .timeout {
                // It may have run, or run later: give back what it took (an admission running after its deadline takes nothing).
                settlements.enqueue(.init(admissionID: admission.id, charge: 0, giveUpAt: .now + policy.lease))
            }
            warnings.warn("\(error)")
            if policy.failClosed { return .failure(Rejection(reason: .unavailable, limit: 0, retryAfterSeconds: 1)) }
            return fallback.admit(userID: userID, id: admission.id, reserving: reservation)
        }
    }

    /// One run of the admission script with a deadline on Redis's clock; nil when it ran past that deadline.
    private func admitInRedis(_ admission: Admission) async throws(RedisError) -> Result<Admission, Rejection>? {
        let keys = LimiterKeys.user(admission.userID) + [LimiterKeys.globalHourly, LimiterKeys.leases, LimiterKeys.concurrent]
        let limits = policy.windowLimits + [policy.globalHourly, policy.globalConcurrent, Int(policy.lease.milliseconds)]
        let cost = [admission.userID, admission.reservation, policy.userDailyBudget, policy.globalDailyBudget]
        let sentAt = clock.localNow()
        let deadline = clock.deadline(sentAt: sentAt, timeout: policy.timeout)
        let reply = try await run(LimiterScripts.admit, keys: keys, arguments: [admission.id] + (limits + cost).map(String.init) + [String(deadline)])
        let (decision, redisNow) = try Self.decision(reply, admission: admission, policy: policy)
        if decision == nil { clock.correct(redisNow: Int64(redisNow), sentAt: sentAt) } else { clock.observe(redisNow: Int64(redisNow), sentAt: sentAt) }
        return decision
    }

    /// Gives the concurrency slot back and settles the reservation with
    /// `charge`. Idempotent; every exit path calls it, so it never waits: it
    /// queues the settlement for ``run()``, which retries it until Redis has
    /// it (a cancelled request still settles).
    public func settle(_ admission: Admission, charge: Charge) {
        let micros = charge.microUSD(reservation: admission.reservation)
        guard admission.holdsRedisLease else { return fallback.settle(admission, charging: micros) }
        // Once the lease has expired the sweep settles it (charging the reservation): retrying longer is pointless.
        settlements.enqueue(.init(admissionID: admission.id, charge: micros, giveUpAt: .now + policy.lease))
    }

    /// The limiter's background work, until ``stop()``: settlements (one
    /// script call at a time, in batches) and the lease sweep.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await self.settlements.run { batch in await self.deliver(batch) }
            }
            group.addTask { await self.sweepExpiredLeases() }
            await group.next()  // the settlements end only after stop(), once delivered
            group.cancelAll()
        }
    }

    /// Stops waiting for settlements; those queued get one more attempt, then ``run()`` returns.
    public func stop() {
        settlements.finish()
    }

    private func deliver(_ batch: [SettlementQueue.Settlement]) async -> Bool {
        let arguments = batch.flatMap { [$0.admissionID, String($0.charge)] }
        return (try? await run(LimiterScripts.settle, keys: [LimiterKeys.leases, LimiterKeys.concurrent], arguments: arguments, timeout: .seconds(2))) != nil
    }

    /// Renews the lease every third of CONCURRENCY_LEASE_SECONDS until cancelled.
    public func renewLease(of admission: Admission) async {
        guard admission.holdsRedisLease else { return }
        while !Task.isCancelled {
            try? await Task.sleep(for: policy.lease / 3)
            guard !Task.isCancelled else { return }
            _ = try? await run(LimiterScripts.renew, keys: [LimiterKeys.leases], arguments: [admission.id, String(policy.lease.milliseconds)], timeout: policy.lease / 3)
        }
    }

    /// Every second, traffic or not, until cancelled: drops expired leases (a
    /// killed worker's, whose reservations become spend) and adds the spend
    /// made while Redis was away to the Redis books.
    func sweepExpiredLeases() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            guard (try? await run(LimiterScripts.sweepExpired, keys: [LimiterKeys.leases, LimiterKeys.concurrent], arguments: [], timeout: .seconds(1))) != nil else { continue }
            await replayFailOpenSpend()
        }
    }

    /// The user's counts in each window and today's spend, without counting a request.
    public func usage(userID: Int) async throws -> Usage {
        let reply = try await run(LimiterScripts.usage, keys: LimiterKeys.user(userID), arguments: (policy.windowLimits + [userID]).map(String.init))
        guard let values = reply.array?.compactMap(\.int), values.count == 6 else {
            throw RedisError(code: .protocolError, message: "unexpected reply from the usage script")
        }
        let windows = zip(Window.allCases, zip(values, policy.windowLimits)).map { WindowUsage(window: $0, current: $1.0, limit: $1.1, resetSeconds: $0.seconds) }
        return Usage(windows: windows, spent: values[3], reserved: values[4], budget: policy.userDailyBudget, resetSeconds: Rejection.seconds(milliseconds: values[5]))
    }

    /// The user's reservations in flight: admission id → micro-USD held.
    /// Reads the whole reservations hash (at most GLOBAL_CONCURRENT_LIMIT entries).
    public func reservations(userID: Int) async throws(RedisError) -> [(id: String, reserved: Int)] {
        let fields = try await redis.send(["HGETALL", LimiterKeys.reservations], timeout: policy.timeout).array?.compactMap(\.string) ?? []
        return stride(from: 0, to: fields.count - 1, by: 2).compactMap { index in
            let entry = fields[index + 1].split(separator: " ")
            guard entry.count == 3, entry[0] == "\(userID)", let reserved = Int(entry[2]) else { return nil }
            return (id: fields[index], reserved: reserved)
        }
    }

    /// Adds what was spent in memory while Redis was away to today's Redis books,
    /// one user at a time; what fails stays for the next round (and keeps
    /// counting against the fail-open budget). A reply lost after the script
    /// ran counts that spend twice: the safe direction.
    func replayFailOpenSpend() async {
        for (userID, micros) in fallback.spendToReplay() {
            guard (try? await run(LimiterScripts.charge, keys: [], arguments: [String(userID), String(micros)], timeout: .seconds(1))) != nil else { return }
            fallback.markReplayed(userID: userID, micros: micros)
            logger.info("Added spend made while Redis was unreachable to the daily budgets", metadata: ["user": "\(userID)", "usd": "\(Charge.usd(micros))"])
        }
    }

    /// Runs a limiter script with the clock offset as its first argument.
    func run(_ script: RedisScript, keys: [String], arguments: [String], timeout: Duration? = nil) async throws(RedisError) -> RESPValue {
        try await redis.run(script, keys: keys, arguments: [String(policy.clockOffset.milliseconds)] + arguments, timeout: timeout ?? policy.timeout)
    }

    /// The admission script's reply: the decision (nil: it ran past its deadline) and Redis's clock then (ms).
    static func decision(_ reply: RESPValue, admission: Admission, policy: Policy) throws(RedisError) -> (Result<Admission, Rejection>?, redisNow: Int) {
        let values = reply.array?.compactMap(\.int) ?? []
        switch (values.first, values.count) {
        case (2, 2):
            return (nil, values[1])
        case (1, 8):
            var admission = admission
            admission.usage = Window.allCases.enumerated().map { index, window in
                WindowUsage(window: window, current: values[1 + index], limit: policy.windowLimits[index], resetSeconds: Rejection.seconds(milliseconds: values[4 + index]))
            }
            return (.success(admission), values[7])
        case (0, 5):
            if let reason = Rejection.Reason(scriptCode: values[1]) {
                return (.failure(Rejection(reason: reason, limit: values[2], retryAfterSeconds: Rejection.seconds(milliseconds: values[3]))), values[4])
            }
        default:
            break
        }
        throw RedisError(code: .protocolError, message: "unexpected reply from the admission script")
    }

    static func admissionID() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<2).map { _ in String(generator.next() as UInt64, radix: 16) }.joined(separator: "-")
    }
}

/// The Redis keys, as operators read them (DESIGN §3).
public enum LimiterKeys {
    public static func user(_ id: Int) -> [String] {
        let base = "ratelimit:user:\(id)"
        return ["\(base):minute", "\(base):hour", "\(base):day", "\(base):minute:buckets", "\(base):hour:buckets", "\(base):day:buckets"]
    }
    public static let globalHourly = "ratelimit:global:hourly:buckets"
    /// Sorted set: admission id → lease deadline (ms, Redis time).
    public static let leases = "ratelimit:global:leases"
    /// String: requests in flight (`GET ratelimit:global:concurrent`).
    public static let concurrent = "ratelimit:global:concurrent"
    /// Hash: admission id → "user day micro-USD" for every reservation in flight.
    public static let reservations = "ratelimit:cost:reservations"
    /// The budget keys: `…user:{id}:daily` / `…global:daily` (strings, USD
    /// spent today), `…user:{id}:day:{n}` / `…global:day:{n}` (hashes of
    /// micro-USD `spent` and `reserved` on UTC day n).
    public static let costPrefix = "ratelimit:cost:"
    public static func userDailyCost(_ id: Int) -> String { "\(costPrefix)user:\(id):daily" }
    public static let globalDailyCost = "\(costPrefix)global:daily"
}

public enum Window: String, Sendable, CaseIterable {
    case minute, hour, day

    public var seconds: Int {
        switch self {
        case .minute: 60
        case .hour: 3600
        case .day: 86400
        }
    }
}

public struct WindowUsage: Sendable, Equatable {
    public let window: Window
    /// Requests counted in the window (after this one, at admission).
    public let current: Int
    public let limit: Int
    /// Seconds until the oldest counted request leaves the window.
    public let resetSeconds: Int

    public var remaining: Int { max(0, limit - current) }

    public init(window: Window, current: Int, limit: Int, resetSeconds: Int) {
        self.window = window
        self.current = current
        self.limit = limit
        self.resetSeconds = resetSeconds
    }
}

/// A user's windows and today's budget (micro-USD), as `stats` shows them.
public struct Usage: Sendable, Equatable {
    public let windows: [WindowUsage]
    /// Settled spend today (UTC, Redis time).
    public let spent: Int
    /// Held by requests in flight.
    public let reserved: Int
    public let budget: Int
    /// Seconds to 00:00 UTC, when the budget starts afresh.
    public let resetSeconds: Int

    /// What a new request may still reserve.
    public var remaining: Int { max(0, budget - spent - reserved) }
}

/// An admitted request: settle it on every exit path.
public struct Admission: Sendable {
    public let id: String
    public let userID: Int
    /// Micro-USD held against both daily budgets until settled.
    public let reservation: Int
    public internal(set) var usage: [WindowUsage]
    /// False when the in-memory fallback admitted it.
    public let holdsRedisLease: Bool
}

/// What an admitted request ends up costing.
public enum Charge: Sendable, Equatable {
    /// Nothing: no upstream call was made, or the upstream refused it without billing.
    case refund
    /// The whole reservation: the call may have been billed but its usage is unknown.
    case reservation
    /// What the upstream's usage says the call cost.
    case usd(Double)

    func microUSD(reservation: Int) -> Int {
        switch self {
        case .refund: 0
        case .reservation: reservation
        case .usd(let usd): Self.microUSD(usd)
        }
    }

    /// Micro-USD, rounded up (a budget is never undercharged by rounding),
    /// after forgiving the binary floating-point noise below a millionth of one.
    public static func microUSD(_ usd: Double) -> Int { Int((usd * 1_000_000 - 1e-6).rounded(.up)) }
    public static func usd(_ microUSD: Int) -> Double { Double(microUSD) / 1_000_000 }
}

/// Why a request is refused, and for how long.
public struct Rejection: Error, Sendable, Equatable {
    public enum Reason: Sendable, Equatable {
        case user(Window)
        case globalHourly
        case concurrency
        /// The user's daily cost budget (`limit` in micro-USD).
        case userBudget
        /// Everybody's daily cost budget (`limit` in micro-USD).
        case globalBudget
        /// Redis is away and this worker spent FAILOPEN_COST_USD_PER_WORKER (`limit` in micro-USD).
        case failOpenBudget
        /// Redis is away and RATE_LIMIT_FAIL_MODE=closed.
        case unavailable

        /// The admission script's code for the limit that tripped.
        init?(scriptCode: Int) {
            switch scriptCode {
            case 1...3: self = .user(Window.allCases[scriptCode - 1])
            case 4: self = .globalHourly
            case 5: self = .concurrency
            case 6: self = .userBudget
            case 7: self = .globalBudget
            default: return nil
            }
        }
    }

    public let reason: Reason
    public let limit: Int
    public let retryAfterSeconds: Int

    /// 429 for a user's own limit, 503 for the shared ones.
    public var isPerUser: Bool {
        switch reason {
        case .user, .userBudget: true
        default: false
        }
    }

    public var detail: String {
        switch reason {
        case .user(let window): "Rate limit exceeded: \(limit) requests per \(window.rawValue)"
        case .globalHourly: "Rate limit exceeded: \(limit) requests per hour for all users"
        case .concurrency: "Rate limit exceeded: \(limit) requests in flight for all users"
        case .userBudget: "Daily cost limit reached: \(Charge.usd(limit)) USD per day; it resets at 00:00 UTC"
        case .globalBudget: "Daily cost limit reached: \(Charge.usd(limit)) USD per day for all users; it resets at 00:00 UTC"
        case .failOpenBudget: "Paid answers are paused while the rate limiter's Redis is unreachable; try again shortly"
        case .unavailable: "Rate limiting is unavailable; try again shortly"
        }
    }

    static func seconds(milliseconds: Int) -> Int { max(1, (milliseconds + 999) / 1000) }
}
