import RedisClient

/// The Lua that makes every limit decision in one atomic round trip, on
/// Redis's clock (`TIME`), so that limits hold across workers and hosts. Each
/// script is run through a call type beside it (``AdmitCall``,
/// ``SettleCall``, …) that names its arguments, declares every key it touches
/// in KEYS and decodes its reply.
///
/// A window whose limit is at most ``exactLogLimit`` is an exact sliding log:
/// a sorted set of admission ids scored by admission time in ms (the guide's
/// `ZCARD ratelimit:user:{id}:minute`). Above that it is a bucketed window: a
/// hash of per-bucket counts (60 buckets per window) that counts the whole of
/// the oldest, partly expired bucket, so it never admits more than the limit
/// and may refuse up to one bucket (1/60 of the window) early.
///
/// Money is integer micro-USD in one ledger hash per user and one for
/// everybody (fields `{day}:spent` and `{day}:reserved`, by UTC day); the
/// guide's readable keys (`GET ratelimit:cost:user:{id}:daily`) are rewritten
/// from the ledger by the same scripts.
enum LimiterScripts {
    static let exactLogLimit = 1000

    /// Redis's clock: every script that reads it takes ARGV[1], an offset in
    /// ms added to it (0 except in tests that move the day).
    static let clock = """
        local t = redis.call('TIME')
        local offset = tonumber(ARGV[1])
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + offset
        local day = math.floor(now / 86400000)
        local midnight = (day + 1) * 86400000
        """

    /// Shared functions: `count(window)` returns the current count and the ms
    /// until the oldest counted entry leaves the window; `record(window)` adds
    /// this admission; `post(user, day, spent, reserved)` writes the books;
    /// `settle(id, charge)` turns a reservation into spend (`charge`
    /// micro-USD, or the reservation itself when negative), unless the
    /// user's books are not among the declared keys (false: left as it is).
    static let library = clock + "\n" + """
        local function isDeclared(key)
            for _, declared in ipairs(KEYS) do if declared == key then return true end end
            return false
        end
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
        local function books(user)
            return {
                {'\(LimiterKeys.costPrefix)user:' .. user .. ':days', '\(LimiterKeys.costPrefix)user:' .. user .. ':daily'},
                {'\(LimiterKeys.globalDays)', '\(LimiterKeys.globalDailyCost)'},
            }
        end
        local function held(days)
            local values = redis.call('HMGET', days, day .. ':spent', day .. ':reserved')
            return tonumber(values[1]) or 0, tonumber(values[2]) or 0
        end
        local function post(user, d, spent, reserved)
            for _, book in ipairs(books(user)) do
                if reserved ~= 0 then redis.call('HINCRBY', book[1], d .. ':reserved', reserved) end
                if spent ~= 0 then
                    local total = redis.call('HINCRBY', book[1], d .. ':spent', spent)
                    if d == day then redis.call('SET', book[2], string.format('%.6f', total / 1000000), 'PXAT', midnight - offset) end
                end
                redis.call('HDEL', book[1], (day - 2) .. ':spent', (day - 2) .. ':reserved')
                redis.call('PEXPIREAT', book[1], (day + 2) * 86400000 - offset)
            end
        end
        local function settle(id, charge)
            local entry = redis.call('HGET', '\(LimiterKeys.reservations)', id)
            if not entry then return true end
            local user, d, reserved = string.match(entry, '^(%-?%d+) (%d+) (%d+)$')
            if not isDeclared(books(user)[1][1]) then return false end
            reserved = tonumber(reserved)
            if charge < 0 then charge = reserved end
            post(user, tonumber(d), charge, -reserved)
            redis.call('HDEL', '\(LimiterKeys.reservations)', id)
            return true
        end
        local function inFlight()
            return redis.call('ZCOUNT', '\(LimiterKeys.leases)', '(' .. now, '+inf')
        end
        """
}
