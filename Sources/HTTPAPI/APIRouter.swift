import Assistant
import Auth
import Hummingbird
import LLM
import Limits
import PostgresClient
import RedisClient
import ServerCore
import Store

/// What the routes need, built once per worker.
public struct APIServices: Sendable {
    public var users: UserStore
    public var notes: NoteStore
    public var assistant: AssistantService
    public var tokens: AccessTokens
    public var loginThrottle: LoginThrottle
    public var redis: RedisClient
    public var database: PostgresConnectionPool
    public var queryMaxCharacters: Int
    public var drain: DrainState
    public var metrics: WorkerMetrics
    /// The series totalled over every worker (asks the supervisor); nil when they do not arrive.
    public var metricsTotals: @Sendable () async -> String?
    /// Whether /metrics is served on the API port (false when METRICS_PORT gives it a listener of its own).
    public var servesMetrics: Bool
    /// nil when RATE_LIMITING_ENABLED=false.
    public var limiter: RateLimiter?
    public var userDailyCostUSD: Double
    /// The LLM circuit breaker's state for health.
    public var llmCircuit: @Sendable () async -> CircuitBreaker.State
    /// nil when CACHE_ENABLED=false.
    public var cache: AnswerCache?
    /// The longest a query waits for an identical one's answer (LLM_TIMEOUT_SECONDS).
    public var cacheWaitLimit: Duration = .seconds(20)
    /// Whether a tracer is bootstrapped: requests get server spans (a traceparent is continued).
    public var tracing = false
    /// How passages are found, for health: `retrieval` (hybrid or words) and the meaning index's state.
    public var retrievalStatus: @Sendable () -> [String: String] = { ["retrieval": "words"] }

    public init(
        users: UserStore, notes: NoteStore, assistant: AssistantService, tokens: AccessTokens,
        loginThrottle: LoginThrottle, redis: RedisClient, database: PostgresConnectionPool, queryMaxCharacters: Int,
        drain: DrainState = DrainState(), metrics: WorkerMetrics = WorkerMetrics(),
        metricsTotals: @escaping @Sendable () async -> String? = { nil }, servesMetrics: Bool = true,
        llmCircuit: @escaping @Sendable () async -> CircuitBreaker.State = { .closed },
        limiter: RateLimiter? = nil, userDailyCostUSD: Double = 5, cache: AnswerCache? = nil, cacheWaitLimit: Duration = .seconds(20),
        tracing: Bool = false
    ) {
        self.tracing = tracing
        self.cache = cache
        self.cacheWaitLimit = cacheWaitLimit
        self.limiter = limiter
        self.userDailyCostUSD = userDailyCostUSD
        self.llmCircuit = llmCircuit
        self.drain = drain
        self.metrics = metrics
        self.metricsTotals = metricsTotals
        self.servesMetrics = servesMetrics
        self.users = users
        self.notes = notes
        self.assistant = assistant
        self.tokens = tokens
        self.loginThrottle = loginThrottle
        self.redis = redis
        self.database = database
        self.queryMaxCharacters = queryMaxCharacters
    }
}

/// The appliance's HTTP API: every route, behind request ids and one error format.
public func makeRouter(_ services: APIServices) -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self, options: .autoGenerateHeadEndpoints)
    router.add(middleware: RequestIDMiddleware())
    if services.tracing { router.add(middleware: TracingMiddleware()) }
    router.add(middleware: AccessLogMiddleware())
    router.add(middleware: MetricsMiddleware(metrics: services.metrics))
    router.add(middleware: ErrorMiddleware())
    if services.servesMetrics { MetricsRoutes(totals: services.metricsTotals).add(to: router) }
    AuthRoutes(users: services.users, tokens: services.tokens, throttle: services.loginThrottle).add(to: router)
    HealthRoutes(
        redis: services.redis, database: services.database, drain: services.drain, llmCircuit: services.llmCircuit,
        retrieval: services.retrievalStatus, deadline: .seconds(1)).add(to: router)
    let authenticated = router.group().add(middleware: AuthenticationMiddleware(tokens: services.tokens, users: KnownUsers(store: services.users)))
    NoteRoutes(notes: services.notes, cache: services.cache).add(to: authenticated)
    StatsRoutes(limiter: services.limiter, userDailyCostUSD: services.userDailyCostUSD).add(to: authenticated)
    let gate = services.limiter.map { RateLimitGate(limiter: $0, metrics: services.metrics) }
    let pipeline = QueryPipeline(answering: services.assistant, admission: gate, cache: services.cache, waitLimit: services.cacheWaitLimit)
    QueryRoutes(pipeline: pipeline, queryMaxCharacters: services.queryMaxCharacters, metrics: services.metrics).add(to: authenticated)
    // Last: it wraps only the not-found responder.
    router.add(middleware: MethodNotAllowedMiddleware(routes: router.routes))
    return router
}

/// The router of the separate metrics listener (METRICS_HOST/METRICS_PORT): /metrics only.
public func makeMetricsRouter(totals: @escaping @Sendable () async -> String?) -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self)
    router.add(middleware: ErrorMiddleware())
    MetricsRoutes(totals: totals).add(to: router)
    return router
}
