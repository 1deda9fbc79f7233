import HTTPTypes
import Limits

/// How a refusal reads to a client: the limiter decides, this says it.
extension Rejection {
    /// 429 for a user's own limit or budget, 503 for the shared ones (and for Redis being away).
    var status: HTTPResponse.Status {
        switch reason {
        case .user, .userBudget: .tooManyRequests
        default: .serviceUnavailable
        }
    }

    var detail: String {
        switch reason {
        case .user(let window): "Rate limit exceeded: \(limit) requests per \(window.rawValue)"
        case .globalHourly: "Rate limit exceeded: \(limit) requests per hour for all users"
        case .concurrency: "Rate limit exceeded: \(limit) requests in flight for all users"
        case .userBudget: "Daily cost limit reached: \(MicroUSD(limit).usd) USD per day; it resets at 00:00 UTC"
        case .globalBudget: "Daily cost limit reached: \(MicroUSD(limit).usd) USD per day for all users; it resets at 00:00 UTC"
        case .failOpenBudget: "Paid answers are paused while the rate limiter's Redis is unreachable; try again shortly"
        case .unavailable: "Rate limiting is unavailable; try again shortly"
        }
    }
}

/// A limit's refusal as the admission throws it: the rejection with the
/// RateLimit fields of its answer (``RateLimitGate/headers(for:policy:)``).
struct LimitRefusal: HTTPAnswerable {
    let rejection: Rejection
    let headers: HTTPFields

    var answer: APIError? { APIError(rejection.status, rejection.detail, headers: headers) }
}
