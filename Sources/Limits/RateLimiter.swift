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

        public init(perMinute: Int, perHour: Int, perDay: Int, globalHourly: Int, globalConcurrent: Int, lease: Duration, timeout: Duration, failClosed: Bool) {
            self.perMinute = perMinute
            self.perHour = perHour
            self.perDay = perDay
            self.globalHourly = globalHourly
            self.globalConcurrent = globalConcurrent
            self.lease = lease
            self.timeout = timeout
            self.failClosed = failClosed
        }

        var windowLimits: [Int] { [perMinute, perHour, perDay] }
    }

    let redis: RedisClient
    public let policy: Policy
    let logger: Logger
    let fallback: InMemoryLimiter
    private let warnings = Mutex<(lastAt: ContinuousClock.Instant?, suppressed: Int)>((nil, 0))

    public init(redis: RedisClient, policy: Policy, logger: Logger) {
        self.redis = redis
        self.policy = policy
        self.logger = logger
        self.fallback = InMemoryLimiter(policy: policy)
    }

    /// Admits a request of `userID` or says which limit refuses it.
    public func admit(userID: Int) async -> Result<Admission, Rejection> {
        let id = Self.admissionID()
        let keys = LimiterKeys.user(userID) + [LimiterKeys.globalHourly, LimiterKeys.leases, LimiterKeys.concurrent]
        let arguments = [id] + policy.windowLimits.map(String.init) + [String(policy.globalHourly), String(policy.globalConcurrent), String(policy.lease.milliseconds)]
        do {
            let reply = try await redis.run(LimiterScripts.admit, keys: keys, arguments: arguments, timeout: policy.timeout)
            return try Self.decision(reply, id: id, policy: policy)
        } catch {
            if error.code == .timeout {
                // It may still run: give back whatever it took, once it has.
                Task { try? await redis.run(LimiterScripts.release, keys: [LimiterKeys.leases, LimiterKeys.concurrent], arguments: [id], timeout: .seconds(2)) }
            }
            warn("\(error)")
            if policy.failClosed { return .failure(Rejection(reason: .unavailable, limit: 0, retryAfterSeconds: 1)) }
            return fallback.admit(userID: userID, id: id)
        }
    }

    /// Gives the concurrency slot back (idempotent; every exit path calls it).
    public func release(_ admission: Admission) {
        guard admission.holdsRedisLease else { return fallback.release() }
        Task { try? await redis.run(LimiterScripts.release, keys: [LimiterKeys.leases, LimiterKeys.concurrent], arguments: [admission.id], timeout: .seconds(2)) }
    }

    /// Renews the lease every third of CONCURRENCY_LEASE_SECONDS until cancelled.
    public func renewLease(of admission: Admission) async {
        guard admission.holdsRedisLease else { return }
        while !Task.isCancelled {
            try? await Task.sleep(for: policy.lease / 3)
            guard !Task.isCancelled else { return }
            _ = try? await redis.run(LimiterScripts.renew, keys: [LimiterKeys.leases], arguments: [admission.id, String(policy.lease.milliseconds)], timeout: policy.lease / 3)
        }
    }

    /// Drops expired leases (a killed worker's) every second, traffic or not; runs until cancelled.
    public func sweepExpiredLeases() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            _ = try? await redis.run(LimiterScripts.sweepExpired, keys: [LimiterKeys.leases, LimiterKeys.concurrent], arguments: [], timeout: .seconds(1))
        }
    }

    /// The user's counts in each window, without counting a request.
    public func usage(userID: Int) async throws -> [WindowUsage] {
        let reply = try await redis.run(LimiterScripts.usage, keys: LimiterKeys.user(userID), arguments: policy.windowLimits.map(String.init), timeout: policy.timeout)
        let counts = reply.array?.compactMap(\.int) ?? []
        return zip(Window.allCases, zip(counts, policy.windowLimits)).map { WindowUsage(window: $0, current: $1.0, limit: $1.1, resetSeconds: $0.seconds) }
    }

    /// `WARNING Rate limit check failed: <reason>`, at most once per 10 s per worker, with how many were not logged.
    private func warn(_ reason: String) {
        let suppressed: Int? = warnings.withLock { state in
            if let last = state.lastAt, ContinuousClock.now - last < .seconds(10) {
                state.suppressed += 1
                return nil
            }
            defer { state = (.now, 0) }
            return state.suppressed
        }
        if let suppressed {
            logger.warning("Rate limit check failed: \(reason)", metadata: suppressed > 0 ? ["suppressed": "\(suppressed)"] : [:])
        }
    }

    static func decision(_ reply: RESPValue, id: String, policy: Policy) throws(RedisError) -> Result<Admission, Rejection> {
        guard let values = reply.array?.compactMap(\.int), let admitted = values.first else {
            throw RedisError(code: .protocolError, message: "unexpected reply from the admission script")
        }
        if admitted == 1, values.count == 7 {
            let usage = Window.allCases.enumerated().map { index, window in
                WindowUsage(window: window, current: values[1 + index], limit: policy.windowLimits[index], resetSeconds: Rejection.seconds(milliseconds: values[4 + index]))
            }
            return .success(Admission(id: id, usage: usage, holdsRedisLease: true))
        }
        guard values.count == 4 else { throw RedisError(code: .protocolError, message: "unexpected reply from the admission script") }
        let reason: Rejection.Reason = values[1] <= 3 ? .user(Window.allCases[values[1] - 1]) : values[1] == 4 ? .globalHourly : .concurrency
        return .failure(Rejection(reason: reason, limit: values[2], retryAfterSeconds: Rejection.seconds(milliseconds: values[3])))
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

/// An admitted request: release it on every exit path.
public struct Admission: Sendable {
    public let id: String
    public let usage: [WindowUsage]
    /// False when the in-memory fallback admitted it.
    public let holdsRedisLease: Bool
}

/// Why a request is refused, and for how long.
public struct Rejection: Error, Sendable, Equatable {
    public enum Reason: Sendable, Equatable {
        case user(Window)
        case globalHourly
        case concurrency
        /// Redis is away and RATE_LIMIT_FAIL_MODE=closed.
        case unavailable
    }

    public let reason: Reason
    public let limit: Int
    public let retryAfterSeconds: Int

    /// 429 for a user's own limit, 503 for the shared ones.
    public var isPerUser: Bool { if case .user = reason { true } else { false } }

    public var detail: String {
        switch reason {
        case .user(let window): "Rate limit exceeded: \(limit) requests per \(window.rawValue)"
        case .globalHourly: "Rate limit exceeded: \(limit) requests per hour for all users"
        case .concurrency: "Rate limit exceeded: \(limit) requests in flight for all users"
        case .unavailable: "Rate limiting is unavailable; try again shortly"
        }
    }

    static func seconds(milliseconds: Int) -> Int { max(1, (milliseconds + 999) / 1000) }
}

extension Duration {
    var milliseconds: Int {
        let (seconds, attoseconds) = components
        return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
    }
}
