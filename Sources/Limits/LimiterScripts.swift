import RedisClient

/// The Lua scripts that make every limit decision in one atomic round trip,
/// on Redis's clock (`TIME`), so that limits hold across workers and hosts.
///
/// A window whose limit is at most ``exactLogLimit`` is an exact sliding log:
/// a sorted set of admission ids scored by admission time in ms (the guide's
/// `ZCARD ratelimit:user:{id}:minute`). Above that it is a bucketed window: a
/// hash of per-bucket counts (60 buckets per window) that counts the whole of
/// the oldest, partly expired bucket, so it never admits more than the limit
/// and may refuse up to one bucket (1/60 of the window) early.
///
/// Money is integer micro-USD in one ledger hash per user and UTC day
/// (`spent`, `reserved`) plus one for everybody; the guide's readable keys
/// (`GET ratelimit:cost:user:{id}:daily`) are rewritten from the ledger by the
/// same scripts. The day's ledger keys are built inside the scripts from the
/// Redis clock, so the scripts need a single Redis, not a cluster.
///
/// Every script takes ARGV[1], an offset in ms added to Redis's clock: 0
/// except in tests that move the day.
enum LimiterScripts {
    static let exactLogLimit = 1000

    /// Shared functions: `count(window)` returns the current count and the ms
    /// until the oldest counted entry leaves the window; `record(window)` adds
    /// this admission; `settle(id, charge)` turns a reservation into spend
    /// (`charge` micro-USD, or the reservation itself when negative);
    /// `sweep` drops expired leases, their reservations becoming spend.
    static let library = """
        local t = redis.call('TIME')
        local offset = tonumber(ARGV[1])
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + offset
        local day = math.floor(now / 86400000)
        local midnight = (day + 1) * 86400000
        local function count(log, buckets, limit, window)
            if limit <= \(exactLogLimit) then
                redis.call('ZREMRANGEBYSCORE', log, '-inf', now - window)
                local n = redis.call('ZCARD', log)
                local oldest = redis.call('ZRANGE', log, 0, 0, 'WITHSCORES')
                local wait = oldest[2] and (tonumber(oldest[2]) + window - now) or 0
                return n, wait
            end
            local size = window / 60
            local first = math.floor((now - window) / size)
            local fields = redis.call('HGETALL', buckets)
            local n, oldest = 0, nil
            for i = 1, #fields, 2 do
                local index = tonumber(fields[i])
                if index < first then
                    redis.call('HDEL', buckets, fields[i])
                else
                    n = n + tonumber(fields[i + 1])
                    if oldest == nil or index < oldest then oldest = index end
                end
            end
            local wait = oldest and ((oldest + 1) * size + window - now) or 0
            return n, wait
        end
        local function record(log, buckets, limit, window, id)
            if limit <= \(exactLogLimit) then
                redis.call('ZADD', log, now, id)
                redis.call('PEXPIRE', log, window)
            else
                redis.call('HINCRBY', buckets, math.floor(now / (window / 60)), 1)
                redis.call('PEXPIRE', buckets, window)
            end
        end
        local function books(user, d)
            return {
                {'\(LimiterKeys.costPrefix)user:' .. user .. ':day:' .. d, '\(LimiterKeys.costPrefix)user:' .. user .. ':daily'},
                {'\(LimiterKeys.costPrefix)global:day:' .. d, '\(LimiterKeys.costPrefix)global:daily'},
            }
        end
        local function post(user, d, spent, reserved)
            for _, book in ipairs(books(user, d)) do
                if reserved ~= 0 then redis.call('HINCRBY', book[1], 'reserved', reserved) end
                if spent ~= 0 then
                    local total = redis.call('HINCRBY', book[1], 'spent', spent)
                    if d == day then redis.call('SET', book[2], string.format('%.6f', total / 1000000), 'PXAT', midnight - offset) end
                end
                redis.call('PEXPIREAT', book[1], (d + 2) * 86400000 - offset)
            end
        end
        local function settle(id, charge)
            local entry = redis.call('HGET', '\(LimiterKeys.reservations)', id)
            if not entry then return 0 end
            local user, d, reserved = string.match(entry, '^(%-?%d+) (%d+) (%d+)$')
            reserved = tonumber(reserved)
            if charge < 0 then charge = reserved end
            post(user, tonumber(d), charge, -reserved)
            redis.call('HDEL', '\(LimiterKeys.reservations)', id)
            return 1
        end
        local function sweep(leases, concurrent)
            local expired = redis.call('ZRANGEBYSCORE', leases, '-inf', now)
            for _, id in ipairs(expired) do settle(id, -1) end
            if #expired > 0 then redis.call('ZREMRANGEBYSCORE', leases, '-inf', now) end
            local n = redis.call('ZCARD', leases)
            if #expired > 0 then redis.call('SET', concurrent, n) end
            return n
        end
        """

    /// KEYS: minute, hour, day logs; minute, hour, day bucket hashes; global
    /// hourly buckets; leases; the readable concurrency count.
    /// ARGV: clock offset, admission id, per-minute, per-hour, per-day, global
    /// hourly and concurrency limits, lease ms, user id, reservation, user and
    /// global daily budgets (micro-USD), the caller's deadline on Redis's clock
    /// (ms; 0: none), then the answer cache's mode (0 none, 1 read, 2
    /// refresh), the query's identity, the lock token and lock ms (see
    /// ``CacheScripts``), and 1 when this request's windows were already
    /// counted (a waiter taking over from a failed leader), else 0.
    /// An admission that runs after its deadline admits nothing and returns
    /// {2, now}: its caller has given up on it (Redis stalled with the command
    /// queued), and a lead taken now would outlive the request.
    /// A cache hit or a wait for another request's answer counts toward the
    /// windows and the global hourly limit but takes no lease and reserves
    /// nothing: {3, counts..., resets..., now, entry, pttl} and
    /// {4, counts..., resets..., now, digest}. Otherwise
    /// {1, minute, hour, day counts after admission, ms to each window's reset..., now, digest or '', 1 when leading}
    /// or {0, which (1-3 user windows, 4 global hourly, 5 concurrency, 6 user
    /// budget, 7 global budget), limit, ms to wait, now}.
    static let admit = RedisScript(library + "\n" + CacheScripts.library + "\n" + """
        local id, user, reserve = ARGV[2], ARGV[9], tonumber(ARGV[10])
        local deadline = tonumber(ARGV[13])
        if deadline > 0 and now > deadline then return {2, now} end
        local counted = ARGV[18] == '1'
        local windows = \(Window.luaMilliseconds)
        local counts, waits = {}, {}
        for i = 1, 3 do
            local limit = tonumber(ARGV[2 + i])
            local n, wait = count(KEYS[i], KEYS[3 + i], limit, windows[i])
            if n >= limit and not counted then return {0, i, limit, wait, now} end
            counts[i], waits[i] = n, wait
        end
        local hourly = tonumber(ARGV[6])
        local n, wait = count(nil, KEYS[7], math.max(hourly, \(exactLogLimit + 1)), 3600000)
        if n >= hourly and not counted then return {0, 4, hourly, wait, now} end
        local function admitted(code, ...)
            if not counted then
                for i = 1, 3 do record(KEYS[i], KEYS[3 + i], tonumber(ARGV[2 + i]), windows[i], id) end
                record(nil, KEYS[7], \(exactLogLimit + 1), 3600000, id)
            end
            local step = counted and 0 or 1
            local reply = {code, counts[1] + step, counts[2] + step, counts[3] + step}
            for i = 1, 3 do reply[4 + i] = waits[i] > 0 and waits[i] or windows[i] end
            reply[8] = now
            for _, value in ipairs({...}) do reply[#reply + 1] = value end
            return reply
        end
        local cache = consult(tonumber(ARGV[14]), user, ARGV[15], ARGV[16], ARGV[17])
        if cache and cache[1] == 'hit' then return admitted(3, cache[3], cache[4]) end
        if cache and cache[1] == 'wait' then return admitted(4, cache[2]) end
        local leading = cache and cache[1] == 'lead'
        local function refuse(...)
            if leading then redis.call('DEL', '\(CacheKeys.lockPrefix)' .. cache[2]) end
            return {0, ...}
        end
        local concurrent = tonumber(ARGV[7])
        local inFlight = sweep(KEYS[8], KEYS[9])
        if inFlight >= concurrent then return refuse(5, concurrent, 1000, now) end
        if reserve > 0 then
            for i, book in ipairs(books(user, day)) do
                local budget = tonumber(ARGV[10 + i])
                local held = redis.call('HMGET', book[1], 'spent', 'reserved')
                if (tonumber(held[1]) or 0) + (tonumber(held[2]) or 0) + reserve > budget then return refuse(5 + i, budget, midnight - now, now) end
            end
        end
        redis.call('ZADD', KEYS[8], now + tonumber(ARGV[8]), id)
        redis.call('SET', KEYS[9], inFlight + 1)
        if reserve > 0 then
            post(user, day, 0, reserve)
            redis.call('HSET', '\(LimiterKeys.reservations)', id, user .. ' ' .. day .. ' ' .. reserve)
        end
        return admitted(1, cache and cache[2] or '', leading and 1 or 0)
        """)

    /// KEYS: leases, readable count. ARGV: clock offset, then pairs of
    /// admission id and charge (micro-USD; -1 charges the reservation).
    /// Releases each lease and settles each reservation to the day it was
    /// made; idempotent. (Expired leases are left to admissions and the sweeper.)
    static let settle = RedisScript(library + "\n" + """
        for i = 2, #ARGV - 1, 2 do
            redis.call('ZREM', KEYS[1], ARGV[i])
            settle(ARGV[i], tonumber(ARGV[i + 1]))
        end
        local n = redis.call('ZCARD', KEYS[1])
        redis.call('SET', KEYS[2], n)
        return n
        """)

    /// KEYS: leases. ARGV: clock offset, admission id, lease ms. 1 when the lease was still held.
    static let renew = RedisScript(library + "\n" + """
        return redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[3]), ARGV[2])
        """)

    /// KEYS: leases, readable count. Drops expired leases (a SIGKILLed
    /// worker's), charging their reservations in full.
    static let sweepExpired = RedisScript(library + "\n" + """
        local n = sweep(KEYS[1], KEYS[2])
        redis.call('SET', KEYS[2], n)
        return n
        """)

    /// ARGV: clock offset, user id, micro-USD. Adds spend made while Redis was
    /// away to today's books.
    static let charge = RedisScript(library + "\n" + """
        post(ARGV[2], day, tonumber(ARGV[3]), 0)
        return 1
        """)

    /// KEYS: the six user keys. ARGV: clock offset, the three limits, user id.
    /// Counts without recording: {minute, hour, day, spent today, reserved today,
    /// ms to midnight}.
    static let usage = RedisScript(library + "\n" + """
        local windows = \(Window.luaMilliseconds)
        local result = {}
        for i = 1, 3 do result[i] = (count(KEYS[i], KEYS[3 + i], tonumber(ARGV[1 + i]), windows[i])) end
        local held = redis.call('HMGET', books(ARGV[5], day)[1][1], 'spent', 'reserved')
        result[4], result[5], result[6] = tonumber(held[1]) or 0, tonumber(held[2]) or 0, midnight - now
        return result
        """)
}
