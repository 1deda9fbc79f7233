import Primitives
import RedisClient

/// Releases leases and settles their reservations to the day each was made;
/// idempotent. KEYS: leases, the readable count, reservations, the books of
/// the settlements' users (``LimiterKeys/books(of:)``). ARGV: clock offset,
/// then pairs of admission id and charge (micro-USD; -1 charges the
/// reservation). Replies the requests still in flight.
struct SettleCall: RedisScriptCall {
    let clockOffset: Duration
    let settlements: [SettlementQueue.Settlement]

    var keys: [String] {
        [LimiterKeys.leases, LimiterKeys.concurrent, LimiterKeys.reservations] + LimiterKeys.books(of: settlements.map(\.userID))
    }
    var arguments: [String] { [String(clockOffset.milliseconds)] + settlements.flatMap { [$0.admissionID, String($0.charge)] } }

    static func decode(_ reply: RESPValue) throws(RedisError) -> Int { try integer(reply) }

    static let script = RedisScript(LimiterScripts.library + "\n" + """
        for i = 2, #ARGV - 1, 2 do
            if settle(ARGV[i], tonumber(ARGV[i + 1])) then redis.call('ZREM', KEYS[1], ARGV[i]) end
        end
        local n = inFlight()
        redis.call('SET', KEYS[2], n)
        return n
        """)
}

/// Extends a lease. KEYS: leases. ARGV: clock offset, admission id, lease ms. Whether it was still held.
struct RenewLeaseCall: RedisScriptCall {
    let clockOffset: Duration
    let admissionID: String
    let lease: Duration

    var keys: [String] { [LimiterKeys.leases] }
    var arguments: [String] { [String(clockOffset.milliseconds), admissionID, String(lease.milliseconds)] }

    static func decode(_ reply: RESPValue) throws(RedisError) -> Bool { try integer(reply) == 1 }

    static let script = RedisScript(LimiterScripts.clock + "\n" + """
        return redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[3]), ARGV[2])
        """)
}

/// The first step of the sweep: the leases that expired (a killed worker's)
/// and whose books their reservations go to, at most `limit`. KEYS: leases,
/// reservations. ARGV: clock offset, limit. Replies {id, user id or ''}...
struct ExpiredLeasesCall: RedisScriptCall {
    struct Lease: Sendable, Equatable {
        let admissionID: String
        /// Nil when the lease reserved nothing.
        let userID: Int?
    }

    let clockOffset: Duration
    let limit: Int

    var keys: [String] { [LimiterKeys.leases, LimiterKeys.reservations] }
    var arguments: [String] { [String(clockOffset.milliseconds), String(limit)] }

    static func decode(_ reply: RESPValue) throws(RedisError) -> [Lease] {
        guard let values = reply.array?.compactMap(\.string), values.count.isMultiple(of: 2) else { throw unexpectedReply }
        return stride(from: 0, to: values.count, by: 2).map { Lease(admissionID: values[$0], userID: Int(values[$0 + 1])) }
    }

    static let script = RedisScript(LimiterScripts.clock + "\n" + """
        local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
        local reply = {}
        for _, id in ipairs(expired) do
            local entry = redis.call('HGET', KEYS[2], id)
            reply[#reply + 1] = id
            reply[#reply + 1] = entry and string.match(entry, '^(%-?%d+) ') or ''
        end
        return reply
        """)
}

/// The second step: drops the given leases that are still expired, their
/// reservations becoming spend. KEYS: as ``SettleCall``'s. ARGV: clock
/// offset, admission ids. Replies the requests still in flight.
struct SweepCall: RedisScriptCall {
    let clockOffset: Duration
    let expired: [ExpiredLeasesCall.Lease]

    var keys: [String] {
        [LimiterKeys.leases, LimiterKeys.concurrent, LimiterKeys.reservations] + LimiterKeys.books(of: expired.compactMap(\.userID))
    }
    var arguments: [String] { [String(clockOffset.milliseconds)] + expired.map(\.admissionID) }

    static func decode(_ reply: RESPValue) throws(RedisError) -> Int { try integer(reply) }

    static let script = RedisScript(LimiterScripts.library + "\n" + """
        for i = 2, #ARGV do
            local deadline = redis.call('ZSCORE', KEYS[1], ARGV[i])
            if deadline and tonumber(deadline) <= now and settle(ARGV[i], -1) then redis.call('ZREM', KEYS[1], ARGV[i]) end
        end
        local n = inFlight()
        redis.call('SET', KEYS[2], n)
        return n
        """)
}
