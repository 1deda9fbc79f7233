import Primitives
import Synchronization

/// The same windows per worker, in memory, used while Redis is away
/// (RATE_LIMIT_FAIL_MODE=open). Every window is bucketed (60 buckets), so it
/// never admits more than its limit within this worker; across N workers a
/// user can get up to N times a limit while Redis is down.
///
/// Paid calls are bounded by FAILOPEN_COST_USD_PER_WORKER: what is reserved
/// plus what was spent and not yet added to Redis never passes it. The spend
/// is kept per user until ``RateLimiter`` replays it into the Redis books.
final class InMemoryLimiter: Sendable {
    private struct Counts {
        var users: [Int: [[Int: Int]]] = [:]  // user → per window: bucket index → count
        var hourly: [Int: Int] = [:]
        var inFlight = 0
        var reserved = 0
        var unreplayed: [Int: Int] = [:]  // user → micro-USD spent while Redis was away
    }

    static let windows = Window.milliseconds
    let policy: RateLimiter.Policy
    private let counts = Mutex(Counts())
    private let start = ContinuousClock.now

    init(policy: RateLimiter.Policy) {
        self.policy = policy
    }

    func admit(userID: Int, id: String, reserving reservation: Int) -> Result<Admission, Rejection> {
        let now = Int((ContinuousClock.now - start).milliseconds)
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
            if reservation > 0, counts.reserved + counts.unreplayed.values.reduce(0, +) + reservation > policy.failOpenBudget {
                return .failure(Rejection(reason: .failOpenBudget, limit: policy.failOpenBudget, retryAfterSeconds: 5))
            }
            for index in 0..<3 { user[index][now / (Self.windows[index] / 60), default: 0] += 1 }
            counts.users[userID] = user
            counts.hourly[now / (Self.windows[1] / 60), default: 0] += 1
            counts.inFlight += 1
            counts.reserved += reservation
            return .success(Admission(id: id, userID: userID, reservation: reservation, usage: usage, holdsRedisLease: false))
        }
    }

    func settle(_ admission: Admission, charging micros: Int) {
        counts.withLock { counts in
            counts.inFlight = max(0, counts.inFlight - 1)
            counts.reserved = max(0, counts.reserved - admission.reservation)
            if micros > 0 { counts.unreplayed[admission.userID, default: 0] += micros }
        }
    }

    /// The spend to add to Redis, per user; it counts against the fail-open
    /// budget until `markReplayed` says it was written.
    func spendToReplay() -> [(userID: Int, micros: Int)] {
        counts.withLock { counts in counts.unreplayed.map { (userID: $0.key, micros: $0.value) } }
    }

    /// Marks `micros` of the user's spend as added to Redis.
    func markReplayed(userID: Int, micros: Int) {
        counts.withLock { counts in
            let left = (counts.unreplayed[userID] ?? 0) - micros
            counts.unreplayed[userID] = left > 0 ? left : nil
        }
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
