import DurationUnits
import LLM
import RedisClient

/// The LLM circuit in Redis, one per upstream for every worker and host:
/// `llm:breaker:{model}@{base URL}` (a hash: `failures` in a row,
/// `open_until` in ms on Redis's clock; absent: closed) and the same key with
/// `:probe` (the token of the one probe of a half-open circuit, expiring
/// after the longest call).
public struct RedisCircuitState: SharedCircuitState {
    let keys: [String]
    let redis: RedisClient
    let failureThreshold: Int
    let resetTimeout: Duration
    /// The longest a probe may take (LLM_TIMEOUT_SECONDS and a margin): a probe whose worker died is replaced after it.
    let probeTimeout: Duration
    let timeout: Duration

    public init(upstream: String, redis: RedisClient, failureThreshold: Int, resetTimeout: Duration, probeTimeout: Duration, timeout: Duration) {
        keys = ["llm:breaker:\(upstream)", "llm:breaker:\(upstream):probe"]
        self.redis = redis
        self.failureThreshold = failureThreshold
        self.resetTimeout = resetTimeout
        self.probeTimeout = probeTimeout
        self.timeout = timeout
    }

    public func permit(token: String) async throws -> CircuitPermit {
        let reply = try await run(Self.permitScript, [token, String(probeTimeout.milliseconds)])
        let values = reply.array?.compactMap(\.int) ?? []
        switch (values.first, values.count) {
        case (0, 2): return .pass
        case (1, 2): return .probe
        case (2, 2): return .refuse(retryAfterSeconds: max(1, (values[1] + 999) / 1000))
        default: throw RedisError(code: .protocolError, message: "unexpected reply from the breaker script")
        }
    }

    public func record(failure: Bool?, token: String) async throws {
        let verdict = failure.map { $0 ? "1" : "0" } ?? ""
        _ = try await run(Self.recordScript, [verdict, token, String(failureThreshold), String(resetTimeout.milliseconds)])
    }

    public func state() async throws -> CircuitBreaker.State {
        switch try await run(Self.stateScript, []).int {
        case 0: .closed
        case 1: .open
        default: .halfOpen
        }
    }

    private func run(_ script: RedisScript, _ arguments: [String]) async throws(RedisError) -> RESPValue {
        try await redis.run(script, keys: keys, arguments: ["0"] + arguments, timeout: timeout)
    }

    /// ARGV: clock offset, token, probe ms. {0, 0} closed; {1, 0} the probe is
    /// ours; {2, ms to wait} open, or half-open with another probe out.
    static let permitScript = RedisScript(LimiterScripts.library + "\n" + """
        local openUntil = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
        if openUntil == 0 then return {0, 0} end
        if now < openUntil then return {2, openUntil - now} end
        if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then return {1, 0} end
        return {2, math.max(redis.call('PTTL', KEYS[2]), 1)}
        """)

    /// ARGV: clock offset, verdict ('1' failure, '0' success, '' none), token,
    /// threshold, reset ms. A probe's failure, or the threshold of failures in
    /// a row while closed, opens the circuit for the reset time; a success closes it.
    static let recordScript = RedisScript(LimiterScripts.library + "\n" + """
        local probing = redis.call('GET', KEYS[2]) == ARGV[3]
        if probing then redis.call('DEL', KEYS[2]) end
        if ARGV[2] == '' then return 0 end
        if ARGV[2] == '0' then
            redis.call('DEL', KEYS[1])
            return 0
        end
        local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
        redis.call('PEXPIRE', KEYS[1], 86400000 + tonumber(ARGV[5]))
        local openUntil = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
        if probing or (openUntil == 0 and failures >= tonumber(ARGV[4])) then
            redis.call('HSET', KEYS[1], 'open_until', now + tonumber(ARGV[5]), 'failures', 0)
        end
        return failures
        """)

    /// 0 closed, 1 open, 2 half-open.
    static let stateScript = RedisScript(LimiterScripts.library + "\n" + """
        local openUntil = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
        if openUntil == 0 then return 0 end
        if now < openUntil then return 1 end
        return 2
        """)
}
