import HTTPTypes
import LLM

/// An open circuit or a rate-limited provider is a 503 the client may retry
/// after Retry-After; a timeout is 504; anything else the upstream did is 502.
extension LLMError: HTTPAnswerable {
    var answer: APIError? {
        switch self {
        case .circuitOpen(let seconds), .rateLimited(let seconds):
            APIError(.serviceUnavailable, "The language model is unavailable right now; retry in \(seconds) s", headers: [.retryAfter: String(seconds)])
        case .timedOut:
            APIError(.gatewayTimeout, "The language model did not answer in time")
        case .upstreamStatus, .upstreamFailed, .unreachable:
            APIError(.badGateway, "The language model failed to answer")
        }
    }
}
