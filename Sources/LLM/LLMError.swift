/// Why the upstream gave no usable answer.
public enum LLMError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The circuit breaker is open: calls fail fast until the reset time.
    case circuitOpen(retryAfterSeconds: Int)
    /// The upstream said 429; `retryAfterSeconds` is its Retry-After (or a default).
    case rateLimited(retryAfterSeconds: Int)
    /// No complete answer within LLM_TIMEOUT_SECONDS.
    case timedOut
    /// The upstream answered with an error status other than 429.
    case upstreamStatus(Int)
    /// No connection was made (unreachable host, no socket free here): nothing was sent.
    case unreachable(String)
    /// A reset connection, an unusable reply.
    case upstreamFailed(String)

    public var description: String {
        switch self {
        case .circuitOpen(let seconds): "the language model is unavailable (circuit open); retry in \(seconds) s"
        case .rateLimited(let seconds): "the language model provider is rate limiting us; retry in \(seconds) s"
        case .timedOut: "the language model did not answer in time"
        case .upstreamStatus(let status): "the language model failed: HTTP \(status)"
        case .unreachable(let reason): "the language model is unreachable: \(reason)"
        case .upstreamFailed(let reason): "the language model failed: \(reason)"
        }
    }

    /// Whether the provider may have billed the call: it bills what it
    /// answered, so a call cut short (timeout, reset, an unusable reply) may
    /// have cost money, while a refusal (error status, 429, open circuit) or a
    /// call that never connected did not.
    public var mayHaveBeenBilled: Bool {
        switch self {
        case .timedOut, .upstreamFailed: true
        case .circuitOpen, .rateLimited, .upstreamStatus, .unreachable: false
        }
    }

    /// Whether the failure counts against the circuit breaker (a 429 is the provider's
    /// flow control, not a fault).
    var countsAsFailure: Bool {
        switch self {
        case .timedOut, .upstreamStatus, .upstreamFailed, .unreachable: true
        case .circuitOpen, .rateLimited: false
        }
    }
}
