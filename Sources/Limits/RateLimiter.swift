import Logging
import Primitives
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
                settlements.enqueue(.init(admissionID: admission.id, userID: userID, charge: 0, giveUpAt: .now + policy.lease))
            }
            warnings.warn("\(error)")
            if policy.failClosed { return .failure(Rejection(reason: .unavailable, limit: 0, retryAfterSeconds: 1)) }
            return fallback.admit(userID: userID, id: admission.id, reserving: reservation)
        }
    }

    /// One run of the admission script with a deadline on Redis's clock; nil when it ran past that deadline.
    private func admitInRedis(_ admission: Admission, cache: CacheRequest?, alreadyCounted: Bool) async throws(RedisError) -> Result<Admission, Rejection>? {
        let sentAt = clock.localNow()
        let consultation = cache.map { CacheConsultation(userID: admission.userID, request: $0) }
        let call = AdmitCall(
            admission: admission, policy: policy, deadline: clock.deadline(sentAt: sentAt, timeout: policy.timeout), cache: consultation,
            alreadyCounted: alreadyCounted)
        switch try await redis.run(call, timeout: policy.timeout) {
        case .late(let redisNow):
            clock.correct(redisNow: Int64(redisNow), sentAt: sentAt)
            return nil
        case .refused(let rejection, let redisNow):
            clock.observe(redisNow: Int64(redisNow), sentAt: sentAt)
            return .failure(rejection)
        case .admitted(let counts, let resets, let finding, let redisNow):
            clock.observe(redisNow: Int64(redisNow), sentAt: sentAt)
            var admission = admission
            admission.usage = Window.allCases.enumerated().map { index, window in
                WindowUsage(window: window, current: counts[index], limit: policy.windowLimits[index], resetSeconds: Rejection.seconds(milliseconds: resets[index]))
            }
            if let consultation, let finding { admission.cache = finding.state(digest: consultation.digest, token: admission.id) }
            return .success(admission)
        }
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
        settlements.enqueue(.init(admissionID: admission.id, userID: admission.userID, charge: micros, giveUpAt: .now + policy.lease))
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
        // Queued behind a stall, so that the slots come back the moment Redis resumes.
        let inFlight = try? await redis.run(SettleCall(clockOffset: policy.clockOffset, settlements: batch), timeout: .seconds(2), whenStalled: .queue)
        return inFlight != nil
    }

    /// Renews the lease every third of CONCURRENCY_LEASE_SECONDS until cancelled.
    public func renewLease(of admission: Admission) async {
        guard admission.holdsRedisLease, admission.cache.computes else { return }
        while !Task.isCancelled {
            try? await Task.sleep(for: policy.lease / 3)
            guard !Task.isCancelled else { return }
            _ = try? await redis.run(RenewLeaseCall(clockOffset: policy.clockOffset, admissionID: admission.id, lease: policy.lease), timeout: policy.lease / 3)
        }
    }

    /// Every second, traffic or not, until cancelled: drops expired leases (a
    /// killed worker's, whose reservations become spend) and adds the spend
    /// made while Redis was away to the Redis books.
    func sweepExpiredLeases() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            guard (try? await sweepOnce()) != nil else { continue }
            await replayFailOpenSpend()
        }
    }

    /// Settles the expired leases in two steps: which they are and whose
    /// books they charge, then the settlement with those books declared.
    func sweepOnce() async throws(RedisError) {
        let expired = try await redis.run(ExpiredLeasesCall(clockOffset: policy.clockOffset, limit: SettlementQueue.batchLimit), timeout: .seconds(1))
        guard !expired.isEmpty else { return }
        _ = try await redis.run(SweepCall(clockOffset: policy.clockOffset, expired: expired), timeout: .seconds(1))
    }

    /// The user's counts in each window and today's spend, without counting a request.
    public func usage(userID: Int) async throws -> Usage {
        let usage = try await redis.run(UsageCall(clockOffset: policy.clockOffset, userID: userID, windowLimits: policy.windowLimits), timeout: policy.timeout)
        let windows = zip(Window.allCases, zip(usage.counts, policy.windowLimits)).map { WindowUsage(window: $0, current: $1.0, limit: $1.1, resetSeconds: $0.seconds) }
        return Usage(
            windows: windows, spent: usage.spent, reserved: usage.reserved, budget: policy.userDailyBudget,
            resetSeconds: Rejection.seconds(milliseconds: usage.millisecondsToMidnight))
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
            guard (try? await redis.run(ChargeCall(clockOffset: policy.clockOffset, userID: userID, micros: micros), timeout: .seconds(1))) != nil else { return }
            fallback.markReplayed(userID: userID, micros: micros)
            logger.info("Added spend made while Redis was unreachable to the daily budgets", metadata: ["user": "\(userID)", "usd": "\(MicroUSD(micros))"])
        }
    }

    static func admissionID() -> String { RandomID.hex(words: 2) }
}
