/// Why the upstream gave no usable answer.
public enum LLMError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The circuit breaker is open: calls fail fast until the reset time.
    case circuitOpen(retryAfterSeconds: Int)
    /// The upstream said 429; `retryAfterSeconds` is its Retry-After (or a default).
    case rateLimited(retryAfterSeconds: Int)
    /// No complete answer within LLM_TIMEOUT_SECONDS.
    case timedOut
    /// A 5xx, a reset connection, an unreachable host, an unusable reply.
    case upstreamFailed(String)

    public var description: String {
        switch self {
        case .circuitOpen(let seconds): "the language model is unavailable (circuit open); retry in \(seconds) s"
        case .rateLimited(let seconds): "the language model provider is rate limiting us; retry in \(seconds) s"
        case .timedOut: "the language model did not answer in time"
        case .upstreamFailed(let reason): "the language model failed: \(reason)"
        }
    }

    /// Whether the failure counts against the circuit breaker (a 429 is the provider's
    /// flow control, not a fault).
    var countsAsFailure: Bool {
        switch self {
        case .timedOut, .upstreamFailed: true
        case .circuitOpen, .rateLimited: false
        }
    }
}
