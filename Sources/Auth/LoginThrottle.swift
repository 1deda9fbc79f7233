import Logging
import RedisClient

/// Caps failed login attempts per email and per client address in Redis,
/// so that password guessing (and the bcrypt work it costs) stays bounded
/// whatever a client sends.
///
/// A fixed window per key (`ratelimit:login:email:{email}`,
/// `ratelimit:login:ip:{address}`) counts failures; a login is refused while
/// either count has reached its limit. Successful logins do not count. When
/// Redis is unreachable logins are allowed (fail open), as the rate limiter does.
public struct LoginThrottle: Sendable {
    public struct Limits: Sendable {
        public var perEmail: Int
        public var perAddress: Int
        public var windowSeconds: Int
        public init(perEmail: Int = 10, perAddress: Int = 100, windowSeconds: Int = 900) {
            self.perEmail = perEmail
            self.perAddress = perAddress
            self.windowSeconds = windowSeconds
        }
    }

    let redis: RedisClient
    let limits: Limits
    let timeout: Duration
    let logger: Logger

    public init(redis: RedisClient, limits: Limits = Limits(), timeout: Duration, logger: Logger) {
        self.redis = redis
        self.limits = limits
        self.timeout = timeout
        self.logger = logger
    }

    /// Refuses an attempt while the email or the address is at its limit.
    /// - Throws: ``AuthError`` `.tooManyAttempts` with the seconds until the window ends.
    public func checkAllowed(email: String, address: String) async throws(AuthError) {
        let retryAfter: Int
        do {
            retryAfter = try await redis.run(CheckCall(counters: Keys(email: email, address: address), limits: limits), timeout: timeout)
        } catch {
            logger.warning("Login attempt check failed, allowing the attempt: \(error)")
            return
        }
        if retryAfter > 0 {
            throw AuthError(code: .tooManyAttempts, message: "Too many failed login attempts, try again later", retryAfterSeconds: retryAfter)
        }
    }

    /// Counts a failed attempt against the email and the address.
    public func recordFailure(email: String, address: String) async {
        do {
            try await redis.run(RecordFailureCall(counters: Keys(email: email, address: address), limits: limits), timeout: timeout)
        } catch {
            logger.warning("Could not record a failed login attempt: \(error)")
        }
    }
}

extension LoginThrottle {
    /// The two failure counters of an attempt.
    struct Keys: Sendable {
        let email: String
        let address: String

        init(email: String, address: String) {
            self.email = "ratelimit:login:email:\(email.lowercased())"
            self.address = "ratelimit:login:ip:\(address)"
        }

        var all: [String] { [email, address] }
    }

    /// KEYS: the email's and the address's counters. ARGV: their limits.
    /// Seconds until the first counter at its limit frees up, or 0 when none is.
    struct CheckCall: RedisScriptCall {
        let counters: Keys
        let limits: Limits

        var keys: [String] { counters.all }
        var arguments: [String] { [String(limits.perEmail), String(limits.perAddress)] }

        static func decode(_ reply: RESPValue) throws(RedisError) -> Int { try integer(reply) }

        static let script = RedisScript("""
            for i, key in ipairs(KEYS) do
                if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[i]) then
                    return math.max(redis.call('TTL', key), 1)
                end
            end
            return 0
            """)
    }

    /// KEYS: the two counters. ARGV: the window's seconds. Counts a failure in both.
    struct RecordFailureCall: RedisScriptCall {
        let counters: Keys
        let limits: Limits

        var keys: [String] { counters.all }
        var arguments: [String] { [String(limits.windowSeconds)] }

        static func decode(_ reply: RESPValue) throws(RedisError) {
            guard reply.int == 0 else { throw unexpectedReply }
        }

        static let script = RedisScript("""
            for _, key in ipairs(KEYS) do
                if redis.call('INCR', key) == 1 then redis.call('EXPIRE', key, ARGV[1]) end
            end
            return 0
            """)
    }
}
