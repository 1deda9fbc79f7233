import DurationUnits
import Logging
import RedisClient
import Synchronization

/// The per-user windows, the global hourly limit and the global concurrency
/// lease, decided in Redis by one atomic script per request (see
/// ``LimiterScripts``), with an in-memory fallback per worker while Redis is
/// unreachable or slower than RATE_LIMIT_TIMEOUT_MS.
public final class RateLimiter: Sendable {
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
    /// both daily budgets, or says which limit refuses it. With `cache`, the
    /// same round trip consults the answer cache (``CacheScripts``): a hit, or
    /// a wait for the request already computing the answer, counts toward the
    /// windows but takes no lease and reserves nothing. `alreadyCounted`: this
    /// request's windows were counted by an earlier admission (a waiter taking over).
    public func admit(userID: Int, reserving cost: MicroUSD, cache: CacheRequest? = nil, alreadyCounted: Bool = false) async -> Result<Admission, Rejection> {
        let reservation = cost.value
        let admission = Admission(id: Self.admissionID(), userID: userID, reservation: reservation, usage: [], holdsRedisLease: true)
        do throws(RedisError) {
            if let decision = try await admitInRedis(admission, cache: cache, alreadyCounted: alreadyCounted) { return decision }
            // Refused as late although answered in time: Redis's clock moved. Once more, on the corrected clock.
            if let decision = try await admitInRedis(admission, cache: cache, alreadyCounted: alreadyCounted) { return decision }
            throw RedisError(code: .protocolError, message: "the admission script keeps refusing its deadline")
        } catch {
            if error.mayHaveRun {
                // It may have run (its reply lost with the connection), or run later: give back what it took (an admission running after its deadline takes nothing).
                settlements.enqueue(.init(admissionID: admission.id, charge: 0, giveUpAt: .now + policy.lease))
            }
            warnings.warn("\(error)")
            if policy.failClosed { return .failure(Rejection(reason: .unavailable, limit: 0, retryAfterSeconds: 1)) }
            return fallback.admit(userID: userID, id: admission.id, reserving: reservation)
        }
    }

    /// One run of the admission script with a deadline on Redis's clock; nil when it ran past that deadline.
    private func admitInRedis(_ admission: Admission, cache: CacheRequest?, alreadyCounted: Bool) async throws(RedisError) -> Result<Admission, Rejection>? {
        let keys = LimiterKeys.user(admission.userID) + [LimiterKeys.globalHourly, LimiterKeys.leases, LimiterKeys.concurrent]
        let limits = policy.windowLimits + [policy.globalHourly, policy.globalConcurrent, Int(policy.lease.milliseconds)]
        let cost = [admission.userID, admission.reservation, policy.userDailyBudget, policy.globalDailyBudget]
        let sentAt = clock.localNow()
        let deadline = clock.deadline(sentAt: sentAt, timeout: policy.timeout)
        let consult = [String(cache?.mode.rawValue ?? 0), cache?.identity ?? "", admission.id, String(CacheKeys.lockDuration.milliseconds), alreadyCounted ? "1" : "0"]
        let reply = try await run(LimiterScripts.admit, keys: keys, arguments: [admission.id] + (limits + cost).map(String.init) + [String(deadline)] + consult)
        let (decision, redisNow) = try Self.decision(reply, admission: admission, policy: policy)
        if decision == nil { clock.correct(redisNow: Int64(redisNow), sentAt: sentAt) } else { clock.observe(redisNow: Int64(redisNow), sentAt: sentAt) }
        return decision
    }

    /// Gives the concurrency slot back and settles the reservation with
    /// `charge`. Idempotent; every exit path calls it, so it never waits: it
    /// queues the settlement for ``run()``, which retries it until Redis has
    /// it (a cancelled request still settles).
    public func settle(_ admission: Admission, charge: Charge) {
        guard admission.cache.computes else { return }  // a hit or a waiter took nothing
        let micros = charge.amount(reservation: admission.reservation)
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
        // Queued behind a stall, so that the slots come back the moment Redis resumes.
        let reply = try? await run(
            LimiterScripts.settle, keys: [LimiterKeys.leases, LimiterKeys.concurrent], arguments: arguments, timeout: .seconds(2), whenStalled: .queue)
        return reply != nil
    }

    /// Renews the lease every third of CONCURRENCY_LEASE_SECONDS until cancelled.
    public func renewLease(of admission: Admission) async {
        guard admission.holdsRedisLease, admission.cache.computes else { return }
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

    /// Requests in flight for all users, as the leases count them (`GET ratelimit:global:concurrent`).
    public func requestsInFlight() async throws(RedisError) -> Int {
        try await redis.send(["GET", LimiterKeys.concurrent], timeout: policy.timeout).int ?? 0
    }

    /// USD spent today by every user (`GET ratelimit:cost:global:daily`; 0 before the day's first charge).
    public func globalSpentToday() async throws(RedisError) -> Double {
        Double(try await redis.send(["GET", LimiterKeys.globalDailyCost], timeout: policy.timeout).string ?? "") ?? 0
    }

    /// Forgets the user's requests in every window (the next one starts afresh); the keys removed.
    public func resetWindows(userID: Int) async throws(RedisError) -> Int {
        try await redis.send(["DEL"] + LimiterKeys.user(userID), timeout: policy.timeout).int ?? 0
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
            logger.info("Added spend made while Redis was unreachable to the daily budgets", metadata: ["user": "\(userID)", "usd": "\(MicroUSD(micros))"])
        }
    }

    /// Runs a limiter script with the clock offset as its first argument.
    func run(
        _ script: RedisScript, keys: [String], arguments: [String], timeout: Duration? = nil, whenStalled: RedisClient.StallPolicy = .failFast
    ) async throws(RedisError) -> RESPValue {
        try await redis.run(
            script, keys: keys, arguments: [String(policy.clockOffset.milliseconds)] + arguments, timeout: timeout ?? policy.timeout, whenStalled: whenStalled)
    }

    /// The admission script's reply: the decision (nil: it ran past its deadline) and Redis's clock then (ms).
    static func decision(_ reply: RESPValue, admission: Admission, policy: Policy) throws(RedisError) -> (Result<Admission, Rejection>?, redisNow: Int) {
        let values = reply.array ?? []
        let ints = values.prefix(8).compactMap(\.int)
        switch (ints.first, values.count) {
        case (2, 2) where ints.count == 2:
            return (nil, ints[1])
        case (1, 10) where ints.count == 8, (3, 10) where ints.count == 8, (4, 9) where ints.count == 8:
            var admission = admission
            admission.usage = Window.allCases.enumerated().map { index, window in
                WindowUsage(window: window, current: ints[1 + index], limit: policy.windowLimits[index], resetSeconds: Rejection.seconds(milliseconds: ints[4 + index]))
            }
            admission.cache = cacheState(code: ints[0], tail: Array(values[8...]), token: admission.id)
            return (.success(admission), ints[7])
        case (0, 5) where ints.count == 5:
            if let reason = Rejection.Reason(scriptCode: ints[1]) {
                return (.failure(Rejection(reason: reason, limit: ints[2], retryAfterSeconds: Rejection.seconds(milliseconds: ints[3]))), ints[4])
            }
        default:
            break
        }
        throw RedisError(code: .protocolError, message: "unexpected reply from the admission script")
    }

    /// The cache part of an admission reply: after a hit the entry and its ttl; after a wait the digest; else the digest ('' none) and whether we lead.
    static func cacheState(code: Int, tail: [RESPValue], token: String) -> CacheState {
        let digest = tail.first?.string ?? ""
        switch code {
        case 3: return .hit(entry: digest, ttlMilliseconds: tail.last?.int ?? 0)
        case 4: return .wait(CacheSlot(digest: digest, token: nil))
        default:
            if digest.isEmpty { return .bypass }
            return tail.last?.int == 1 ? .lead(CacheSlot(digest: digest, token: token)) : .refresh(CacheSlot(digest: digest, token: nil))
        }
    }

    static func admissionID() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<2).map { _ in String(generator.next() as UInt64, radix: 16) }.joined(separator: "-")
    }
}
