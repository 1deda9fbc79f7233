import Primitives
import RedisClient

/// One admission: the user's windows and the global hourly limit counted,
/// the concurrency lease taken and both daily budgets reserved, all or
/// nothing, with the answer cache consulted in the same round trip.
///
/// A cache hit or a wait for another request's answer counts toward the
/// windows and the global hourly limit but takes no lease and reserves
/// nothing. An admission that runs after its deadline admits nothing: its
/// caller has given up on it (Redis stalled with the command queued), and a
/// lead taken now would outlive the request.
struct AdmitCall: RedisScriptCall {
    enum Reply: Sendable, Equatable {
        /// It ran after its deadline and admitted nothing.
        case late(redisNow: Int)
        case refused(Rejection, redisNow: Int)
        /// Counts after admission (minute, hour, day), ms to each window's
        /// reset, and what the cache holds (nil: not consulted).
        case admitted(counts: [Int], resetMilliseconds: [Int], cache: CacheFinding?, redisNow: Int)
    }

    let admission: Admission
    let policy: RateLimiter.Policy
    /// Redis ms after which the admission takes nothing (0: none).
    let deadline: Int64
    let cache: CacheConsultation?
    /// This request's windows were counted by an earlier admission (a waiter taking over).
    let alreadyCounted: Bool

    var keys: [String] {
        LimiterKeys.user(admission.userID) + [LimiterKeys.globalHourly, LimiterKeys.leases, LimiterKeys.concurrent, LimiterKeys.reservations]
            + LimiterKeys.books(admission.userID) + (cache?.keys ?? [])
    }

    var arguments: [String] {
        let limits = policy.windowLimits + [policy.globalHourly, policy.globalConcurrent, Int(policy.lease.milliseconds)]
        let money = [admission.userID, admission.reservation, policy.userDailyBudget, policy.globalDailyBudget]
        return [String(policy.clockOffset.milliseconds), admission.id] + (limits + money).map(String.init)
            + [String(deadline), alreadyCounted ? "1" : "0"] + (cache?.arguments ?? ["0"])
    }

    static func decode(_ reply: RESPValue) throws(RedisError) -> Reply {
        let values = reply.array ?? []
        let ints = values.prefix(8).compactMap(\.int)
        switch (ints.first, values.count) {
        case (2, 2) where ints.count == 2:
            return .late(redisNow: ints[1])
        case (0, 5) where ints.count == 5:
            guard let reason = Rejection.Reason(scriptCode: ints[1]) else { break }
            return .refused(Rejection(reason: reason, limit: ints[2], retryAfterSeconds: Rejection.seconds(milliseconds: ints[3])), redisNow: ints[4])
        case (1, 8...) where ints.count == 8:
            let cache = try CacheFinding.decode(values[8...])
            return .admitted(counts: Array(ints[1...3]), resetMilliseconds: Array(ints[4...6]), cache: cache, redisNow: ints[7])
        default:
            break
        }
        throw unexpectedReply
    }

    /// KEYS: the six user windows (``LimiterKeys/user(_:)``), global hourly
    /// buckets, leases, the readable concurrency count, reservations, the
    /// books (``LimiterKeys/books(_:)``), then the cache's
    /// (``CacheConsultation``). ARGV: clock offset, admission id, per-minute,
    /// per-hour, per-day, global hourly and concurrency limits, lease ms,
    /// user id, reservation, user and global daily budgets (micro-USD),
    /// deadline, counted ('1': already), then the cache's.
    /// Replies {2, now} (late); {0, which (1-3 user windows, 4 global hourly,
    /// 5 concurrency, 6 user budget, 7 global budget), limit, ms to wait, now};
    /// {1, minute, hour, day counts, ms to each reset, now, cache finding...}.
    static let script = RedisScript(LimiterScripts.library + "\n" + CacheScripts.library + "\n" + """
        local id, user, reserve = ARGV[2], ARGV[9], tonumber(ARGV[10])
        local deadline = tonumber(ARGV[13])
        if deadline > 0 and now > deadline then return {2, now} end
        local counted = ARGV[14] == '1'
        local windows = \(Window.luaMilliseconds)
        local counts, waits = {}, {}
        for i = 1, 3 do
            local limit = tonumber(ARGV[2 + i])
            local n, wait = count(KEYS[i], KEYS[3 + i], limit, windows[i])
            if n >= limit and not counted then return {0, i, limit, wait, now} end
            counts[i], waits[i] = n, wait
        end
        local hourly = tonumber(ARGV[6])
        local n, wait = count(nil, KEYS[7], math.max(hourly, \(LimiterScripts.exactLogLimit + 1)), 3600000)
        if n >= hourly and not counted then return {0, 4, hourly, wait, now} end
        local function admitted(cache)
            if not counted then
                for i = 1, 3 do record(KEYS[i], KEYS[3 + i], tonumber(ARGV[2 + i]), windows[i], id) end
                record(nil, KEYS[7], \(LimiterScripts.exactLogLimit + 1), 3600000, id)
            end
            local step = counted and 0 or 1
            local reply = {1, counts[1] + step, counts[2] + step, counts[3] + step}
            for i = 1, 3 do reply[4 + i] = waits[i] > 0 and waits[i] or windows[i] end
            reply[8] = now
            for _, value in ipairs(cache or {}) do reply[#reply + 1] = value end
            return reply
        end
        local cache = consult(15, tonumber(ARGV[15]), id, ARGV[16])
        if cache and (cache[1] == 'hit' or cache[1] == 'wait') then return admitted(cache) end
        local function refuse(...)
            if cache and cache[1] == 'lead' then redis.call('DEL', KEYS[19]) end
            return {0, ...}
        end
        local concurrent = tonumber(ARGV[7])
        local running = inFlight()
        if running >= concurrent then return refuse(5, concurrent, 1000, now) end
        if reserve > 0 then
            for i, book in ipairs(books(user)) do
                local budget = tonumber(ARGV[10 + i])
                local spent, reserved = held(book[1])
                if spent + reserved + reserve > budget then return refuse(5 + i, budget, midnight - now, now) end
            end
        end
        redis.call('ZADD', KEYS[8], now + tonumber(ARGV[8]), id)
        redis.call('SET', KEYS[9], running + 1)
        if reserve > 0 then
            post(user, day, 0, reserve)
            redis.call('HSET', KEYS[10], id, user .. ' ' .. day .. ' ' .. reserve)
        end
        return admitted(cache)
        """)
}
