import Synchronization

/// The same windows per worker, in memory, used while Redis is away
/// (RATE_LIMIT_FAIL_MODE=open). Every window is bucketed (60 buckets), so it
/// never admits more than its limit within this worker; across N workers a
/// user can get up to N times a limit while Redis is down.
final class InMemoryLimiter: Sendable {
    private struct Counts {
        var users: [Int: [[Int: Int]]] = [:]  // user → per window: bucket index → count
        var hourly: [Int: Int] = [:]
        var inFlight = 0
    }

    static let windows = [60_000, 3_600_000, 86_400_000]
    let policy: RateLimiter.Policy
    private let counts = Mutex(Counts())
    private let start = ContinuousClock.now

    init(policy: RateLimiter.Policy) {
        self.policy = policy
    }

    func admit(userID: Int, id: String) -> Result<Admission, Rejection> {
        let now = (ContinuousClock.now - start).milliseconds
        return counts.withLock { counts in
            var user = counts.users[userID] ?? Array(repeating: [:], count: 3)
            var usage: [WindowUsage] = []
            for (index, window) in Self.windows.enumerated() {
                let (current, wait) = Self.count(&user[index], window: window, now: now)
                let limit = policy.windowLimits[index]
                if current >= limit {
                    return .failure(Rejection(reason: .user(Window.allCases[index]), limit: limit, retryAfterSeconds: Rejection.seconds(milliseconds: wait)))
                }
                usage.append(WindowUsage(window: Window.allCases[index], current: current + 1, limit: limit, resetSeconds: Rejection.seconds(milliseconds: wait)))
            }
            let (hourly, wait) = Self.count(&counts.hourly, window: Self.windows[1], now: now)
            if hourly >= policy.globalHourly {
                return .failure(Rejection(reason: .globalHourly, limit: policy.globalHourly, retryAfterSeconds: Rejection.seconds(milliseconds: wait)))
            }
            if counts.inFlight >= policy.globalConcurrent {
                return .failure(Rejection(reason: .concurrency, limit: policy.globalConcurrent, retryAfterSeconds: 1))
            }
            for index in 0..<3 { user[index][now / (Self.windows[index] / 60), default: 0] += 1 }
            counts.users[userID] = user
            counts.hourly[now / (Self.windows[1] / 60), default: 0] += 1
            counts.inFlight += 1
            return .success(Admission(id: id, usage: usage, holdsRedisLease: false))
        }
    }

    func release() {
        counts.withLock { $0.inFlight = max(0, $0.inFlight - 1) }
    }

    /// Drops buckets that left the window; the count includes the oldest partly expired bucket.
    private static func count(_ buckets: inout [Int: Int], window: Int, now: Int) -> (count: Int, waitMilliseconds: Int) {
        let size = window / 60
        let first = (now - window) / size
        buckets = buckets.filter { $0.key >= first }
        guard let oldest = buckets.keys.min() else { return (0, window) }
        return (buckets.values.reduce(0, +), (oldest + 1) * size + window - now)
    }
}
