import Assistant
import Prometheus

/// This worker's cumulative Prometheus series. The supervisor totals them
/// over every worker for GET /metrics (labels never carry pids or user ids).
public final class WorkerMetrics: Sendable {
    private let registry = PrometheusCollectorRegistry()

    nonisolated(unsafe) static let requests = MetricNameDescriptor(
        namespace: "scribes", metricName: "http_requests", unitName: "total",
        helpText: "HTTP requests answered, by route pattern, method and status.")  // immutable; the type just is not marked Sendable

    nonisolated(unsafe) static let rateLimit = MetricNameDescriptor(
        namespace: "scribes", metricName: "ratelimit_decisions", unitName: "total",
        helpText: "Admission decisions: admitted, admitted_fail_open (Redis away), rejected_user (429), rejected_global (503).")

    nonisolated(unsafe) static let admission = MetricNameDescriptor(
        namespace: "scribes", metricName: "ratelimit_admission", unitName: "seconds",
        helpText: "Time to an admission decision (the Redis round trip, or the in-memory fallback).")
    static let admissionBuckets: [Duration] = [100, 200, 300, 400, 500, 750, 1000, 1500, 2000, 3000, 5000, 10_000, 50_000].map { .microseconds($0) }

    nonisolated(unsafe) static let cacheLookups = MetricNameDescriptor(
        namespace: "scribes", metricName: "cache_lookups", unitName: "total",
        helpText: "Answer cache lookups: hit, miss, coalesced (an identical request's answer), bypass (disabled, Redis away, or the request's Cache-Control).")

    nonisolated(unsafe) static let cacheSaved = MetricNameDescriptor(
        namespace: "scribes", metricName: "cache_saved_usd", unitName: "total",
        helpText: "What the answers served from the cache (hits and coalesced waiters) cost when they were computed.")

    nonisolated(unsafe) static let queries = MetricNameDescriptor(
        namespace: "assistant", metricName: "queries", unitName: "total",
        helpText: "Total assistant queries (the guide's series): status success, rate_limited (429/503 from a limit) or error; cached.")

    nonisolated(unsafe) static let queryDuration = MetricNameDescriptor(
        namespace: "assistant", metricName: "query_duration", unitName: "seconds",
        helpText: "Query duration (the guide's series), whatever the outcome.")
    static let queryDurationBuckets: [Duration] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0].map { .milliseconds(Int64($0 * 1000)) }

    public init() {}

    /// One query in the guide's series: `status` success, rate_limited or error.
    func countQuery(status: String, cached: Bool, duration: Duration) {
        registry.makeCounter(descriptor: Self.queries, labels: [("endpoint", "query"), ("status", status), ("cached", String(cached))]).increment()
        registry.makeDurationHistogram(descriptor: Self.queryDuration, buckets: Self.queryDurationBuckets).record(duration)
    }

    func countCacheLookup(_ result: CacheResult, savedUSD: Double) {
        let label = switch result {
        case .bypass, .directed: "bypass"
        case .hit: "hit"
        case .coalesced: "coalesced"
        case .miss: "miss"
        }
        registry.makeCounter(descriptor: Self.cacheLookups, labels: [("result", label)]).increment()
        if savedUSD > 0 { registry.makeCounter(descriptor: Self.cacheSaved).increment(by: savedUSD) }
    }

    func recordAdmission(_ duration: Duration) {
        registry.makeDurationHistogram(descriptor: Self.admission, buckets: Self.admissionBuckets).record(duration)
    }

    func countRateLimit(_ result: String) {
        registry.makeCounter(descriptor: Self.rateLimit, labels: [("result", result)]).increment()
    }

    func countRequest(route: String, method: String, status: Int) {
        registry.makeCounter(descriptor: Self.requests, labels: [("route", route), ("method", method), ("status", String(status))]).increment()
    }

    /// This worker's series in the Prometheus text format.
    public func exposition() -> String {
        registry.emitToString()
    }
}
