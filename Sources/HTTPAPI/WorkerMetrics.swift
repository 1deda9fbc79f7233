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

    public init() {}

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
