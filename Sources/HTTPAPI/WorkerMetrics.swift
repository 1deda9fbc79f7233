import Assistant
import LLM
import Limits
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

    nonisolated(unsafe) static let rejections = MetricNameDescriptor(
        namespace: "scribes", metricName: "ratelimit_rejections", unitName: "total",
        helpText: "Refused queries by the limit that refused them: minute, hour, day, global_hourly, concurrency, user_budget, global_budget, fail_open_budget, unavailable.")

    nonisolated(unsafe) static let admission = MetricNameDescriptor(
        namespace: "scribes", metricName: "ratelimit_admission", unitName: "seconds",
        helpText: "Time to an admission decision (the Redis round trip, or the in-memory fallback).")
    static let admissionBuckets: [Duration] = [100, 200, 300, 400, 500, 750, 1000, 1500, 2000, 3000, 5000, 10_000, 50_000].map { .microseconds($0) }

    nonisolated(unsafe) static let retrieval = MetricNameDescriptor(
        namespace: "scribes", metricName: "retrieval", unitName: "seconds",
        helpText: "Time to find a query's passages: the question's embedding, the scan, the database (words and meaning, fused).")
    static let retrievalBuckets: [Duration] = [1, 2, 5, 10, 15, 20, 30, 50, 75, 100, 250, 1000].map { .milliseconds($0) }

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

    nonisolated(unsafe) static let firstToken = MetricNameDescriptor(
        namespace: "assistant", metricName: "time_to_first_token", unitName: "seconds",
        helpText: "Streamed queries: time from the request to the first piece of the answer written to the client (a cached answer's one piece included).")
    static let firstTokenBuckets: [Duration] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0].map { .milliseconds(Int64($0 * 1000)) }

    nonisolated(unsafe) static let streamsInFlight = MetricNameDescriptor(
        namespace: "scribes", metricName: "streams_in_flight", unitName: "",
        helpText: "Streamed answers being written to their clients.")

    nonisolated(unsafe) static let streamsDisconnected = MetricNameDescriptor(
        namespace: "scribes", metricName: "streams_disconnected", unitName: "total",
        helpText: "Streams whose client left before the end, by what the query was charged: nothing (before the sources), reservation (from the sources on: the upstream call comes next), answer (it had finished).")

    nonisolated(unsafe) static let llmTokens = MetricNameDescriptor(
        namespace: "scribes", metricName: "llm_tokens", unitName: "total",
        helpText: "Tokens of computed answers (never cache hits), by provider, model and direction: input (question and context) or output.")

    nonisolated(unsafe) static let llmCost = MetricNameDescriptor(
        namespace: "scribes", metricName: "llm_cost_usd", unitName: "total",
        helpText: "What computed answers were charged (USD), by provider and model.")

    nonisolated(unsafe) static let breakerState = MetricNameDescriptor(
        namespace: "scribes", metricName: "llm_breaker_state", unitName: "",
        helpText: "Workers seeing the LLM circuit breaker in each state (closed, open, half_open), sampled every second.")

    nonisolated(unsafe) static let poolConnections = MetricNameDescriptor(
        namespace: "scribes", metricName: "pool_connections", unitName: "",
        helpText: "Open connections of the workers' Redis and PostgreSQL pools: in_use (a request on it) or idle, sampled every second.")

    nonisolated(unsafe) static let poolWaiters = MetricNameDescriptor(
        namespace: "scribes", metricName: "pool_waiters", unitName: "",
        helpText: "Requests waiting for a Redis or PostgreSQL connection, sampled every second.")

    nonisolated(unsafe) static let budgetSpent = MetricNameDescriptor(
        namespace: "scribes", metricName: "budget_spent_usd", unitName: "",
        helpText: "USD spent today against the global daily budget (GLOBAL_DAILY_COST_LIMIT), read from Redis every second by the worker of slot 0.")

    nonisolated(unsafe) static let budgetLimit = MetricNameDescriptor(
        namespace: "scribes", metricName: "budget_limit_usd", unitName: "",
        helpText: "The global daily budget (GLOBAL_DAILY_COST_LIMIT), reported by the worker of slot 0.")

    /// The provider and model the worker asks (labels of the LLM series).
    let provider: String
    let model: String

    public init(provider: String = "local", model: String = "local") {
        self.provider = provider
        self.model = model
    }

    /// A computed answer's tokens and charge.
    func countCompletion(_ answer: RenderedAnswer, cost: MicroUSD) {
        let labels = [("provider", provider), ("model", model)]
        registry.makeCounter(descriptor: Self.llmTokens, labels: labels + [("direction", "input")]).increment(by: Int64(answer.queryTokens + answer.contextTokens))
        registry.makeCounter(descriptor: Self.llmTokens, labels: labels + [("direction", "output")]).increment(by: Int64(answer.outputTokens))
        registry.makeCounter(descriptor: Self.llmCost, labels: labels).increment(by: cost.usd)
    }

    /// A pool's state, as ``sample(breaker:pools:)`` records it.
    public struct PoolSample: Sendable {
        public let pool: String
        public let inUse: Int
        public let idle: Int
        public let waiters: Int

        public init(pool: String, inUse: Int, idle: Int, waiters: Int) {
            (self.pool, self.inUse, self.idle, self.waiters) = (pool, inUse, idle, waiters)
        }
    }

    /// The global daily budget's gauges (one worker reports them: the totals add up every worker's gauges).
    public func sampleBudget(spentUSD: Double, limitUSD: Double) {
        registry.makeGauge(descriptor: Self.budgetSpent, labels: [("scope", "global")]).set(spentUSD)
        registry.makeGauge(descriptor: Self.budgetLimit, labels: [("scope", "global")]).set(limitUSD)
    }

    /// The gauges: the breaker's state (`closed`, `open`, `half_open`) and the pools'.
    public func sample(breaker: CircuitBreaker.State, pools: [PoolSample]) {
        for state in CircuitBreaker.State.allCases {
            registry.makeGauge(descriptor: Self.breakerState, labels: [("state", state.rawValue)]).set(state == breaker ? 1.0 : 0.0)
        }
        for pool in pools {
            registry.makeGauge(descriptor: Self.poolConnections, labels: [("pool", pool.pool), ("state", "in_use")]).set(Double(pool.inUse))
            registry.makeGauge(descriptor: Self.poolConnections, labels: [("pool", pool.pool), ("state", "idle")]).set(Double(pool.idle))
            registry.makeGauge(descriptor: Self.poolWaiters, labels: [("pool", pool.pool)]).set(Double(pool.waiters))
        }
    }

    /// One query in the guide's series: `status` success, rate_limited or error.
    func countQuery(status: String, cached: Bool, duration: Duration) {
        registry.makeCounter(descriptor: Self.queries, labels: [("endpoint", "query"), ("status", status), ("cached", String(cached))]).increment()
        registry.makeDurationHistogram(descriptor: Self.queryDuration, buckets: Self.queryDurationBuckets).record(duration)
    }

    /// A stream's first piece of the answer reached its client's connection.
    func recordFirstToken(after duration: Duration) {
        registry.makeDurationHistogram(descriptor: Self.firstToken, buckets: Self.firstTokenBuckets).record(duration)
    }

    /// A stream began (+1) or ended (-1).
    func countStreamInFlight(_ change: Double) {
        registry.makeGauge(descriptor: Self.streamsInFlight).increment(by: change)
    }

    /// A stream's client left before its end; `charged`: nothing, reservation or answer.
    func countDisconnectedStream(charged: String) {
        registry.makeCounter(descriptor: Self.streamsDisconnected, labels: [("charged", charged)]).increment()
    }

    func countCacheLookup(_ result: CacheResult, saved: MicroUSD) {
        let label = switch result {
        case .bypass, .directed: "bypass"
        case .hit: "hit"
        case .coalesced: "coalesced"
        case .miss: "miss"
        }
        registry.makeCounter(descriptor: Self.cacheLookups, labels: [("result", label)]).increment()
        if saved > .zero { registry.makeCounter(descriptor: Self.cacheSaved).increment(by: saved.usd) }
    }

    /// One query's retrieval (``AssistantService/retrievalObserver``).
    public func recordRetrieval(_ duration: Duration) {
        registry.makeDurationHistogram(descriptor: Self.retrieval, buckets: Self.retrievalBuckets).record(duration)
    }

    func recordAdmission(_ duration: Duration) {
        registry.makeDurationHistogram(descriptor: Self.admission, buckets: Self.admissionBuckets).record(duration)
    }

    func countRateLimit(_ result: String) {
        registry.makeCounter(descriptor: Self.rateLimit, labels: [("result", result)]).increment()
    }

    /// `limit`: the one that refused (`minute`, `concurrency`, `user_budget`, ...).
    func countRejection(limit: String) {
        registry.makeCounter(descriptor: Self.rejections, labels: [("limit", limit)]).increment()
    }

    func countRequest(route: String, method: String, status: Int) {
        registry.makeCounter(descriptor: Self.requests, labels: [("route", route), ("method", method), ("status", String(status))]).increment()
    }

    /// This worker's series in the Prometheus text format.
    public func exposition() -> String {
        registry.emitToString()
    }
}
