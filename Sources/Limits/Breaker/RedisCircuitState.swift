import LLM
import Primitives
import RedisClient

/// The LLM circuit in Redis, one per upstream for every worker and host:
/// `llm:breaker:{model}@{base URL}` (a hash: `failures` in a row,
/// `open_until` in ms on Redis's clock; absent: closed) and the same key with
/// `:probe` (the token of the one probe of a half-open circuit, expiring
/// after the longest call).
public struct RedisCircuitState: SharedCircuitState {
    /// The circuit's two keys, which every breaker script declares.
    struct Keys: Sendable {
        let circuit: String
        let probe: String
        var all: [String] { [circuit, probe] }
    }

    let keys: Keys
    let redis: RedisClient
    let failureThreshold: Int
    let resetTimeout: Duration
    /// The longest a probe may take (LLM_TIMEOUT_SECONDS and a margin): a probe whose worker died is replaced after it.
    let probeTimeout: Duration
    let timeout: Duration

    public init(upstream: String, redis: RedisClient, failureThreshold: Int, resetTimeout: Duration, probeTimeout: Duration, timeout: Duration) {
        keys = Keys(circuit: "llm:breaker:\(upstream)", probe: "llm:breaker:\(upstream):probe")
        self.redis = redis
        self.failureThreshold = failureThreshold
        self.resetTimeout = resetTimeout
        self.probeTimeout = probeTimeout
        self.timeout = timeout
    }

    public func permit(token: String) async throws -> CircuitPermit {
        try await redis.run(PermitCall(circuit: keys, token: token, probeTimeout: probeTimeout), timeout: timeout)
    }

    public func record(failure: Bool?, token: String) async throws {
        let call = RecordCall(circuit: keys, failure: failure, token: token, threshold: failureThreshold, resetTimeout: resetTimeout)
        _ = try await redis.run(call, timeout: timeout)
    }

    public func state() async throws -> CircuitBreaker.State {
        try await redis.run(StateCall(circuit: keys), timeout: timeout)
    }
}

extension RedisCircuitState {
    /// A call's turn. KEYS: circuit, probe. ARGV: clock offset, token, probe
    /// ms. {0, 0} closed; {1, 0} the probe is ours; {2, ms to wait} open, or
    /// half-open with another probe out.
    struct PermitCall: RedisScriptCall {
        let circuit: Keys
        let token: String
        let probeTimeout: Duration

        var keys: [String] { circuit.all }
        var arguments: [String] { ["0", token, String(probeTimeout.milliseconds)] }

        static func decode(_ reply: RESPValue) throws(RedisError) -> CircuitPermit {
            let values = reply.array?.compactMap(\.int) ?? []
            switch (values.first, values.count) {
            case (0, 2): return .pass
            case (1, 2): return .probe
            case (2, 2): return .refuse(retryAfterSeconds: max(1, (values[1] + 999) / 1000))
            default: throw unexpectedReply
            }
        }

        static let script = RedisScript(LimiterScripts.clock + "\n" + """
            local openUntil = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
            if openUntil == 0 then return {0, 0} end
            if now < openUntil then return {2, openUntil - now} end
            if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then return {1, 0} end
            return {2, math.max(redis.call('PTTL', KEYS[2]), 1)}
            """)
    }

    /// A call's verdict. KEYS: circuit, probe. ARGV: clock offset, verdict
    /// ('1' failure, '0' success, '' none), token, threshold, reset ms. A
    /// probe's failure, or the threshold of failures in a row while closed,
    /// opens the circuit for the reset time; a success closes it. Replies the failures in a row.
    struct RecordCall: RedisScriptCall {
        let circuit: Keys
        let failure: Bool?
        let token: String
        let threshold: Int
        let resetTimeout: Duration

        var keys: [String] { circuit.all }
        var arguments: [String] {
            ["0", failure.map { $0 ? "1" : "0" } ?? "", token, String(threshold), String(resetTimeout.milliseconds)]
        }

        static func decode(_ reply: RESPValue) throws(RedisError) -> Int { try integer(reply) }

        static let script = RedisScript(LimiterScripts.clock + "\n" + """
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
    }

    /// The state as health reports it. KEYS: circuit, probe. ARGV: clock offset. 0 closed, 1 open, 2 half-open.
    struct StateCall: RedisScriptCall {
        let circuit: Keys

        var keys: [String] { circuit.all }
        var arguments: [String] { ["0"] }

        static func decode(_ reply: RESPValue) throws(RedisError) -> CircuitBreaker.State {
            switch reply.int {
            case 0: .closed
            case 1: .open
            case 2: .halfOpen
            default: throw unexpectedReply
            }
        }

        static let script = RedisScript(LimiterScripts.clock + "\n" + """
            local openUntil = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
            if openUntil == 0 then return 0 end
            if now < openUntil then return 1 end
            return 2
            """)
    }
}
