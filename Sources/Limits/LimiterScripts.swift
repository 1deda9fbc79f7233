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
enum LimiterScripts {
    static let exactLogLimit = 1000

    /// Shared functions: `count(window)` returns the current count and the ms
    /// until the oldest counted entry leaves the window; `record(window)` adds
    /// this admission.
    static let library = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
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
        local function sweep(leases, concurrent)
            redis.call('ZREMRANGEBYSCORE', leases, '-inf', now)
            local n = redis.call('ZCARD', leases)
            redis.call('SET', concurrent, n)
            return n
        end
        """

    /// KEYS: minute, hour, day logs; minute, hour, day bucket hashes; global
    /// hourly buckets; leases; the readable concurrency count.
    /// ARGV: admission id, per-minute, per-hour, per-day, global hourly and
    /// concurrency limits, lease ms.
    /// Returns {1, minute, hour, day counts after admission, ms to each window's reset...}
    /// or {0, which (1-3 user windows, 4 global hourly, 5 concurrency), limit, ms to wait}.
    static let admit = RedisScript(library + "\n" + """
        local id = ARGV[1]
        local windows = {60000, 3600000, 86400000}
        local counts, waits = {}, {}
        for i = 1, 3 do
            local limit = tonumber(ARGV[1 + i])
            local n, wait = count(KEYS[i], KEYS[3 + i], limit, windows[i])
            if n >= limit then return {0, i, limit, wait} end
            counts[i], waits[i] = n, wait
        end
        local hourly = tonumber(ARGV[5])
        local n, wait = count(nil, KEYS[7], math.max(hourly, \(exactLogLimit + 1)), 3600000)
        if n >= hourly then return {0, 4, hourly, wait} end
        local concurrent = tonumber(ARGV[6])
        if sweep(KEYS[8], KEYS[9]) >= concurrent then return {0, 5, concurrent, 1000} end
        for i = 1, 3 do record(KEYS[i], KEYS[3 + i], tonumber(ARGV[1 + i]), windows[i], id) end
        record(nil, KEYS[7], \(exactLogLimit + 1), 3600000, id)
        redis.call('ZADD', KEYS[8], now + tonumber(ARGV[7]), id)
        redis.call('SET', KEYS[9], redis.call('ZCARD', KEYS[8]))
        return {1, counts[1] + 1, counts[2] + 1, counts[3] + 1, waits[1] > 0 and waits[1] or windows[1], waits[2] > 0 and waits[2] or windows[2], waits[3] > 0 and waits[3] or windows[3]}
        """)

    /// KEYS: leases, readable count. ARGV: admission id. Idempotent.
    static let release = RedisScript(library + "\n" + """
        redis.call('ZREM', KEYS[1], ARGV[1])
        return sweep(KEYS[1], KEYS[2])
        """)

    /// KEYS: leases. ARGV: admission id, lease ms. 1 when the lease was still held.
    static let renew = RedisScript(library + "\n" + """
        return redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[2]), ARGV[1])
        """)

    /// KEYS: leases, readable count. Drops expired leases (a SIGKILLed worker's).
    static let sweepExpired = RedisScript(library + "\n" + """
        return sweep(KEYS[1], KEYS[2])
        """)

    /// KEYS: the six user keys. ARGV: the three limits. Counts without recording:
    /// {minute, hour, day}.
    static let usage = RedisScript(library + "\n" + """
        local windows = {60000, 3600000, 86400000}
        local result = {}
        for i = 1, 3 do result[i] = (count(KEYS[i], KEYS[3 + i], tonumber(ARGV[i]), windows[i])) end
        return result
        """)
}
