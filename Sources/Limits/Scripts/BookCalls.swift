import Primitives
import RedisClient

/// Adds spend made while Redis was away to today's books. KEYS: the user's
/// books (``LimiterKeys/books(_:)``). ARGV: clock offset, user id, micro-USD.
struct ChargeCall: RedisScriptCall {
    let clockOffset: Duration
    let userID: Int
    let micros: Int

    var keys: [String] { LimiterKeys.books(userID) }
    var arguments: [String] { [String(clockOffset.milliseconds), String(userID), String(micros)] }

    static func decode(_ reply: RESPValue) throws(RedisError) {
        guard reply.int == 1 else { throw unexpectedReply }
    }

    static let script = RedisScript(LimiterScripts.library + "\n" + """
        post(ARGV[2], day, tonumber(ARGV[3]), 0)
        return 1
        """)
}

/// A user's counts in each window and today's books, without counting a
/// request. KEYS: the six user windows, the user's days. ARGV: clock offset,
/// the three limits. Replies {minute, hour, day, spent today, reserved
/// today, ms to midnight}.
struct UsageCall: RedisScriptCall {
    struct Reply: Sendable, Equatable {
        let counts: [Int]
        let spent: Int
        let reserved: Int
        let millisecondsToMidnight: Int
    }

    let clockOffset: Duration
    let userID: Int
    let windowLimits: [Int]

    var keys: [String] { LimiterKeys.user(userID) + [LimiterKeys.userDays(userID)] }
    var arguments: [String] { [String(clockOffset.milliseconds)] + windowLimits.map(String.init) }

    static func decode(_ reply: RESPValue) throws(RedisError) -> Reply {
        guard let values = reply.array?.compactMap(\.int), values.count == 6 else { throw unexpectedReply }
        return Reply(counts: Array(values[0..<3]), spent: values[3], reserved: values[4], millisecondsToMidnight: values[5])
    }

    static let script = RedisScript(LimiterScripts.library + "\n" + """
        local windows = \(Window.luaMilliseconds)
        local result = {}
        for i = 1, 3 do result[i] = (count(KEYS[i], KEYS[3 + i], tonumber(ARGV[1 + i]), windows[i])) end
        result[4], result[5] = held(KEYS[7])
        result[6] = midnight - now
        return result
        """)
}
