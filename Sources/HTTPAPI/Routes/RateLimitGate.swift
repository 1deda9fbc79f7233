import HTTPTypes
import Hummingbird
import Assistant
import Limits

/// The query pipeline's admission over the rate limiter, in HTTP terms:
/// refusals are 429 (the user's own limit or budget) or 503 (a shared one)
/// with Retry-After; every answer carries the IETF
/// draft-ietf-httpapi-ratelimit-headers-11 `RateLimit-Policy` and `RateLimit`
/// fields. (What is admitted, renewed and charged is the pipeline's business.)
struct RateLimitGate: QueryAdmission {
    let limiter: RateLimiter
    let metrics: WorkerMetrics
    /// `RateLimit-Policy`, the same on every answer.
    let policyField: String

    init(limiter: RateLimiter, metrics: WorkerMetrics) {
        self.limiter = limiter
        self.metrics = metrics
        policyField = Self.policyField(limiter.policy)
    }

    /// Admits `userID` with `reservation` USD held, or throws the refusal as a 429/503 with its headers.
    func admit(userID: Int, reserving reservation: MicroUSD, cache: CacheRequest?, alreadyCounted: Bool) async throws -> Admission {
        let start = ContinuousClock.now
        let decision = await limiter.admit(userID: userID, reserving: reservation, cache: cache, alreadyCounted: alreadyCounted)
        metrics.recordAdmission(.now - start)
        switch decision {
        case .success(let admission):
            metrics.countRateLimit(admission.holdsRedisLease ? "admitted" : "admitted_fail_open")
            return admission
        case .failure(let rejection):
            metrics.countRateLimit(rejection.status == .tooManyRequests ? "rejected_user" : "rejected_global")
            metrics.countRejection(limit: rejection.reason.name)
            throw LimitRefusal(rejection: rejection, headers: headers(for: rejection, policy: limiter.policy))
        }
    }

    func cacheState(of admission: Admission) -> CacheState {
        admission.cache
    }

    func keepAlive(_ admission: Admission) async {
        await limiter.renewLease(of: admission)
    }

    func settle(_ admission: Admission, charge: Charge) {
        limiter.settle(admission, charge: charge)
    }

    /// The `RateLimit-Policy` and `RateLimit` fields of an admitted answer.
    func addFields(for admission: Admission, to response: inout Response) {
        response.headers[.rateLimitPolicy] = policyField
        response.headers[.rateLimit] = Self.field(tightest(admission.usage, policy: limiter.policy))
    }

    /// `"minute";q=10;w=60, "hour";q=100;w=3600, "day";q=500;w=86400`
    static func policyField(_ policy: RateLimiter.Policy) -> String {
        zip(Window.allCases, [policy.perMinute, policy.perHour, policy.perDay])
            .map { #""\#($0.rawValue)";q=\#($1);w=\#($0.seconds)"# }
            .joined(separator: ", ")
    }

    /// The window with the fewest requests left (the shortest on a tie).
    func tightest(_ usage: [WindowUsage], policy: RateLimiter.Policy) -> WindowUsage {
        usage.min { $0.remaining < $1.remaining } ?? WindowUsage(window: .minute, current: 0, limit: policy.perMinute, resetSeconds: 60)
    }

    static func field(_ usage: WindowUsage) -> String {
        #""\#(usage.window.rawValue)";r=\#(usage.remaining);t=\#(usage.resetSeconds)"#
    }

    func headers(for rejection: Rejection, policy: RateLimiter.Policy) -> HTTPFields {
        var fields: HTTPFields = [.retryAfter: String(rejection.retryAfterSeconds)]
        switch rejection.reason {
        case .user(let window):
            fields[.rateLimitPolicy] = policyField
            fields[.rateLimit] = Self.field(WindowUsage(window: window, current: rejection.limit, limit: rejection.limit, resetSeconds: rejection.retryAfterSeconds))
        case .globalHourly:
            fields[.rateLimitPolicy] = #""global-hour";q=\#(rejection.limit);w=3600"#
            fields[.rateLimit] = #""global-hour";r=0;t=\#(rejection.retryAfterSeconds)"#
        case .concurrency, .userBudget, .globalBudget, .failOpenBudget, .unavailable:
            break
        }
        return fields
    }
}

extension HTTPField.Name {
    static let rateLimitPolicy = Self("RateLimit-Policy")!
    static let rateLimit = Self("RateLimit")!
}

extension Rejection.Reason {
    /// The refusing limit as the decisions series labels it.
    var name: String {
        switch self {
        case .user(let window): window.rawValue
        case .globalHourly: "global_hourly"
        case .concurrency: "concurrency"
        case .userBudget: "user_budget"
        case .globalBudget: "global_budget"
        case .failOpenBudget: "fail_open_budget"
        case .unavailable: "unavailable"
        }
    }
}
