import HTTPTypes
import Hummingbird
import Limits

/// Admits each request through the rate limiter before the route runs,
/// holds its concurrency lease (renewed) while it runs, and releases it on
/// every exit path. Refusals are 429 (the user's own limit) or 503 (a shared
/// one) with Retry-After; every answer carries the IETF
/// draft-ietf-httpapi-ratelimit-headers-11 `RateLimit-Policy` and `RateLimit` fields.
struct RateLimitMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    let limiter: RateLimiter
    let metrics: WorkerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let admission: Admission
        let start = ContinuousClock.now
        let decision = await limiter.admit(userID: try context.requireUserID())
        metrics.recordAdmission(.now - start)
        switch decision {
        case .success(let admitted):
            admission = admitted
        case .failure(let rejection):
            metrics.countRateLimit(rejection.isPerUser ? "rejected_user" : "rejected_global")
            throw APIError(rejection.isPerUser ? .tooManyRequests : .serviceUnavailable, rejection.detail, headers: headers(for: rejection))
        }
        metrics.countRateLimit(admission.holdsRedisLease ? "admitted" : "admitted_fail_open")
        defer { limiter.release(admission) }
        let renewal = Task { await limiter.renewLease(of: admission) }
        defer { renewal.cancel() }
        var response = try await next(request, context)
        response.headers[.rateLimitPolicy] = policyField
        response.headers[.rateLimit] = Self.field(tightest(admission.usage))
        return response
    }

    /// `"minute";q=10;w=60, "hour";q=100;w=3600, "day";q=500;w=86400`
    var policyField: String {
        zip(Window.allCases, [limiter.policy.perMinute, limiter.policy.perHour, limiter.policy.perDay])
            .map { #""\#($0.rawValue)";q=\#($1);w=\#($0.seconds)"# }
            .joined(separator: ", ")
    }

    /// The window with the fewest requests left (the shortest on a tie).
    func tightest(_ usage: [WindowUsage]) -> WindowUsage {
        usage.min { $0.remaining < $1.remaining } ?? WindowUsage(window: .minute, current: 0, limit: limiter.policy.perMinute, resetSeconds: 60)
    }

    static func field(_ usage: WindowUsage) -> String {
        #""\#(usage.window.rawValue)";r=\#(usage.remaining);t=\#(usage.resetSeconds)"#
    }

    func headers(for rejection: Rejection) -> HTTPFields {
        var fields: HTTPFields = [.retryAfter: String(rejection.retryAfterSeconds)]
        switch rejection.reason {
        case .user(let window):
            fields[.rateLimitPolicy] = policyField
            fields[.rateLimit] = Self.field(WindowUsage(window: window, current: rejection.limit, limit: rejection.limit, resetSeconds: rejection.retryAfterSeconds))
        case .globalHourly:
            fields[.rateLimitPolicy] = #""global-hour";q=\#(rejection.limit);w=3600"#
            fields[.rateLimit] = #""global-hour";r=0;t=\#(rejection.retryAfterSeconds)"#
        case .concurrency, .unavailable:
            break
        }
        return fields
    }
}

extension HTTPField.Name {
    static let rateLimitPolicy = Self("RateLimit-Policy")!
    static let rateLimit = Self("RateLimit")!
}
