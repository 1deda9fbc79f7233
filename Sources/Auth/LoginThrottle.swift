import Logging
import RedisClient

/// Caps login attempts per email and per client address in Redis, so that
/// password guessing (and bcrypt work) stays bounded whatever a client sends.
///
/// A fixed window per key (`ratelimit:login:email:{email}`,
/// `ratelimit:login:ip:{address}`), counted and checked in one script. When
/// Redis is unreachable logins are allowed (fail open), as the rate limiter does.
public struct LoginThrottle: Sendable {
    public struct Limits: Sendable {
        public var perEmail: Int
        public var perAddress: Int
        public var windowSeconds: Int
        public init(perEmail: Int = 10, perAddress: Int = 50, windowSeconds: Int = 900) {
            self.perEmail = perEmail
            self.perAddress = perAddress
            self.windowSeconds = windowSeconds
        }
    }

    static let script = RedisScript("""
        local counts = {}
        for i, key in ipairs(KEYS) do
            counts[i] = redis.call('INCR', key)
            if counts[i] == 1 then redis.call('EXPIRE', key, ARGV[1]) end
        end
        for i, key in ipairs(KEYS) do
            if counts[i] > tonumber(ARGV[i + 1]) then return redis.call('TTL', key) end
        end
        return 0
        """)

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

    /// Counts an attempt.
    /// - Throws: ``AuthError`` `.tooManyAttempts` with the seconds until the window ends.
    public func recordAttempt(email: String, address: String) async throws(AuthError) {
        let keys = ["ratelimit:login:email:\(email.lowercased())", "ratelimit:login:ip:\(address)"]
        let arguments = [String(limits.windowSeconds), String(limits.perEmail), String(limits.perAddress)]
        let retryAfter: Int
        do {
            retryAfter = try await redis.run(Self.script, keys: keys, arguments: arguments, timeout: timeout).int ?? 0
        } catch {
            logger.warning("Login attempt check failed, allowing the attempt: \(error)")
            return
        }
        if retryAfter > 0 {
            throw AuthError(code: .tooManyAttempts, message: "Too many login attempts, try again later", retryAfterSeconds: retryAfter)
        }
    }
}
