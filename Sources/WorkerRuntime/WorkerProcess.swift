import Assistant
import Auth
import CurlHTTP
import HTTPAPI
import LLM
import Limits
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Observability
import PostgresClient
import RedisClient
import ServiceLifecycle
import Settings
import Store
import ServerCore
import Supervisor
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// Everything a worker process does once its configuration is read: the
/// pools, the limiter, the API server on its slot's socket, heartbeats and
/// supervisor messages on its control channel, signals, and a graceful stop.
public struct WorkerProcess: Sendable {
    let configuration: ServerConfiguration
    let environment: [String: String]
    let slot: Int
    let slots: Int
    let hooks: TestHooks
    let logger: Logger

    public init(configuration: ServerConfiguration, environment: [String: String], slot: Int, slots: Int, hooks: TestHooks, logger: Logger) {
        self.configuration = configuration
        self.environment = environment
        self.slot = slot
        self.slots = slots
        self.hooks = hooks
        self.logger = logger
    }

    /// Serves until SIGTERM (or the supervisor's death) and the graceful stop are done.
    public func run() async throws {
        // First, so that every span of the worker's life has a tracer.
        let tracer = Observability.bootstrapTracing(configuration.observability, logger: logger)
        let pools = WorkerPools(configuration, logger: logger)
        let link = SupervisorLink(slots: slots)
        let upstream = Upstream(configuration.llm, redis: pools.redis, redisTimeout: .milliseconds(configuration.limits.redisTimeoutMilliseconds))
        let metrics = WorkerMetrics(provider: upstream.provider.name, model: upstream.provider.model)
        let limiter = limiter(pools.redis)
        let cache = Self.answerCache(configuration, redis: pools.redis, logger: logger)
        let retrieval = Retrieval(
            configuration.retrieval, database: pools.database, threadPool: pools.embedding,
            sharedDirectory: environment[WorkerContract.sharedDirectoryVariable], announce: slot == 0, logger: logger)
        let drain = DrainState()
        let api = await apiServices(
            pools: pools, upstream: upstream, metrics: metrics, limiter: limiter, cache: cache, retrieval: retrieval, drain: drain, link: link,
            tracing: tracer != nil)
        let heartbeat = Self.heartbeat(link, metrics: metrics)
        await Self.warmUp(database: pools.database, connections: configuration.database.maxConnections, redis: pools.redis)
        let servers = servers(api, link: link)
        Self.followSupervisor(link, server: servers[0], drain: drain, metrics: metrics)
        // Stopped in the reverse order: the servers drain, then the work they
        // leave (settlements, spans) is delivered, then the pools close.
        let background: [(any Service)?] = [
            BackgroundService.closing { await pools.close(); upstream.close() },
            heartbeat,
            tracer,  // flushes what is batched when told to stop
            limiter.map { limiter in BackgroundService.stopped(limiter.run, stop: limiter.stop) },
            cache.map { Self.subscribing($0, redis: pools.redis, logger: logger) },
            BackgroundService.cancelled { await Self.sampleGauges(metrics, breaker: upstream.circuitState, budget: slot == 0 ? limiter : nil, pools: pools) },
            retrieval.loading.map { loading in BackgroundService.closing { loading.cancel() } },
            BackgroundService.cancelled { [hooks, logger, environment, logFile = configuration.observability.logFile] in
                await Self.handleSignals(hooks: hooks, logFile: logFile, environment: environment, logger: logger)
            },
        ]
        try await ServiceGroup(configuration: .init(
            services: background.compactMap { $0.map(ServiceGroupConfiguration.ServiceConfiguration.background) } + servers.map { .init(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)).run()
        // Counted since the last gather: the supervisor keeps these totals after we exit.
        link.send(.metricsReport(gather: 0, exposition: metrics.exposition()))
    }
}

extension WorkerProcess {
    /// The Redis limiter; nil when RATE_LIMITING_ENABLED=false.
    func limiter(_ redis: RedisClient) -> RateLimiter? {
        guard configuration.limits.enabled else { return nil }
        var policy = RateLimiter.Policy(configuration.limits)
        policy.clockOffset = hooks.limiterClockOffset
        return RateLimiter(redis: redis, policy: policy, logger: logger)
    }

    /// What the routes use.
    func apiServices(
        pools: WorkerPools, upstream: Upstream, metrics: WorkerMetrics, limiter: RateLimiter?, cache: AnswerCache?, retrieval: Retrieval,
        drain: DrainState, link: SupervisorLink, tracing: Bool
    ) async -> APIServices {
        let (configuration, logger) = (configuration, logger)
        var services = APIServices(
            users: UserStore(pool: pools.database, threadPool: pools.hashing),
            notes: NoteStore(pool: pools.database, embedder: retrieval.embedder),
            assistant: AssistantService(
                search: retrieval.search, provider: upstream.provider, pricing: upstream.pricing,
                topK: configuration.answers.retrievalTopK, contextMaxTokens: configuration.answers.contextMaxTokens,
                maxTokens: configuration.llm.maxTokens),
            tokens: await AccessTokens(secret: configuration.auth.jwtSecret, lifetimeSeconds: configuration.auth.tokenLifetimeSeconds),
            loginThrottle: LoginThrottle(redis: pools.redis, timeout: .milliseconds(configuration.limits.redisTimeoutMilliseconds), logger: logger),
            redis: pools.redis,
            database: pools.database,
            queryMaxCharacters: configuration.answers.queryMaxCharacters,
            drain: drain, metrics: metrics, metricsTotals: { await link.requestTotals(timeout: .seconds(3)) },
            servesMetrics: environment[WorkerContract.metricsVariable] == nil,
            llmCircuit: upstream.circuitState,
            limiter: limiter, userDailyCostUSD: configuration.limits.userDailyCostUSD,
            cache: cache, cacheWaitLimit: .seconds(configuration.llm.timeoutSeconds), tracing: tracing)
        services.retrievalStatus = retrieval.status
        services.assistant.retrievalObserver = { [metrics] in metrics.recordRetrieval($0) }
        if slot == 0, configuration.limits.enabled { Self.warnAboutBudgets(configuration, assistant: services.assistant, logger: logger) }
        return services
    }

    /// The API's server on this slot's socket, and slot 0's metrics server
    /// when METRICS_PORT is set: one listening socket for every process, so
    /// no two processes race for each scrape (a lost accept race is harmless
    /// in release builds but NIO asserts on it in debug builds).
    func servers(_ services: APIServices, link: SupervisorLink) -> [WorkerServer<AppRequestContext>] {
        // Counted once the pools have their first connections: what they may still open is in the reserve.
        let connectionLimit = ConnectionLimit(reserve: Self.descriptorReserve(configuration), logger: logger)
        logger.log(level: connectionLimit.capacity < 16 ? .warning : .info, "Connections: \(connectionLimit.summary)")
        let server = configuration.server
        func options(requestLimit: Int?) -> WorkerServer<AppRequestContext>.Options {
            .init(
                idleTimeout: .seconds(server.keepAliveTimeout), requestReadTimeout: .seconds(server.requestReadTimeout),
                gracefulTimeout: .seconds(server.gracefulTimeout), requestLimit: requestLimit, connectionLimit: connectionLimit,
                channelHandlers: APIConnection.handlers, failure: APIConnection.failure)
        }
        let api = WorkerServer(
            router: makeRouter(services), descriptor: WorkerContract.listener(slot: slot),
            coverable: (0..<slots).filter { $0 != slot }.map(WorkerContract.listener(slot:)),
            options: options(requestLimit: Self.requestLimit(server)), logger: logger,
            onAccepting: { link.send(.ready) }, onRequestLimit: { link.send(.recycle) })
        guard environment[WorkerContract.metricsVariable] != nil, slot == 0 else { return [api] }
        let metrics = WorkerServer(
            router: makeMetricsRouter(totals: services.metricsTotals), descriptor: WorkerContract.metricsListener(slots: slots),
            options: options(requestLimit: nil), logger: logger)
        return [api, metrics]
    }

    /// The answer cache's subscriber (a leader's answer reaches the waiters of every worker) and its retries.
    static func subscribing(_ cache: AnswerCache, redis: RedisClient, logger: Logger) -> BackgroundService {
        let subscriber = RedisSubscriber(configuration: redis.configuration, channel: CacheKeys.channel, logger: logger)
        return .cancelled { await cache.run(subscriber: subscriber) }
    }

    /// The shared answer cache; nil when CACHE_ENABLED=false.
    static func answerCache(_ configuration: ServerConfiguration, redis: RedisClient, logger: Logger) -> AnswerCache? {
        guard configuration.answers.cacheEnabled else { return nil }
        return AnswerCache(
            redis: redis, ttl: .seconds(configuration.answers.cacheTTLSeconds), maxEntryBytes: configuration.answers.cacheMaxEntryBytes,
            timeout: .milliseconds(configuration.limits.redisTimeoutMilliseconds), logger: logger)
    }

    /// A budget smaller than the most one query reserves refuses every paid
    /// query with 0 spent: say so at startup rather than leave users puzzled.
    static func warnAboutBudgets(_ configuration: ServerConfiguration, assistant: AssistantService, logger: Logger) {
        let characters = configuration.answers.queryMaxCharacters
        guard let longest = try? Question(String(repeating: "x", count: characters), maxCharacters: characters) else { return }
        let reservation = assistant.reservation(for: longest)
        let budgets = [("USER_DAILY_COST_LIMIT", configuration.limits.userDailyCostUSD), ("GLOBAL_DAILY_COST_LIMIT", configuration.limits.globalDailyCostUSD)]
        for (key, budget) in budgets where reservation > MicroUSD(roundingUp: budget) {
            logger.warning(
                "\(key) (\(budget) USD) is below what one query can reserve (\(reservation) USD): long paid queries will be refused; raise it or lower LLM_MAX_TOKENS or CONTEXT_MAX_TOKENS")
        }
    }

    /// Opens the database pool's connections and a Redis connection before
    /// accepting, so a worker that replaces another (reload, recycling) is as
    /// quick on its first requests as the one it replaces. PostgreSQL or Redis
    /// being down delays readiness by at most their connect timeouts; it never
    /// prevents it.
    static func warmUp(database: PostgresConnectionPool, connections: Int, redis: RedisClient) async {
        await withTaskGroup(of: Void.self) { group in
            // Held briefly and all at once, so the pool opens every connection rather than reusing one.
            for _ in 0..<connections { group.addTask { _ = try? await database.query("SELECT pg_sleep(0.01)", timeout: .seconds(2)) } }
            group.addTask { _ = try? await redis.send(["PING"], timeout: .seconds(2)) }
        }
    }

    /// Descriptors a worker keeps free besides what its connections use: every
    /// connection its Redis and database pools may open (the subscriber's
    /// too), the upstream client's cached connections, and a margin for an
    /// accept batch, libdispatch's `/proc` reads, the trace exporter and the log.
    static func descriptorReserve(_ configuration: ServerConfiguration) -> Int {
        configuration.redis.maxConnections + 1 + configuration.database.maxConnections + CurlHTTPClient.maxCachedConnections + 32
    }

    /// WORKER_MAX_REQUESTS plus a random share of the jitter; nil when recycling is off.
    static func requestLimit(_ server: ServerSettings) -> Int? {
        server.maxRequests == 0 ? nil : server.maxRequests + Int.random(in: 0...server.maxRequestsJitter)
    }

    /// Sends a heartbeat four times a second once every event loop has run a
    /// task: a blocked loop stops the heartbeats, and the supervisor kills
    /// the worker after WORKER_TIMEOUT. Every second it also reports its
    /// metrics, so a worker that is killed loses at most a second of counts.
    static func heartbeat(_ link: SupervisorLink, metrics: WorkerMetrics) -> BackgroundService {
        let group = MultiThreadedEventLoopGroup.singleton
        let beats = NIOLockedValueBox(0)
        let beating = group.next().scheduleRepeatedTask(initialDelay: .milliseconds(250), delay: .milliseconds(250)) { _ in
            let loops = group.makeIterator().map { $0.submit {} }
            EventLoopFuture.andAllSucceed(loops, on: group.next()).whenSuccess {
                link.send(.heartbeat)
                if beats.withLockedValue({ $0 += 1; return $0 % 4 == 0 }) {
                    link.send(.metricsReport(gather: 0, exposition: metrics.exposition()))
                }
            }
        }
        return .closing { beating.cancel() }
    }

    /// Every second: the breaker's state, the pools' use and the global spend, for the gauges.
    /// `budget`: the limiter whose global spend this worker reports (slot 0's only).
    static func sampleGauges(_ metrics: WorkerMetrics, breaker: @Sendable () async -> CircuitBreaker.State, budget: RateLimiter?, pools: WorkerPools) async {
        let (redis, database) = (pools.redis, pools.database)
        while !Task.isCancelled {
            if let budget, let spent = try? await budget.globalSpentToday() {
                metrics.sampleBudget(spentUSD: spent, limitUSD: MicroUSD(budget.policy.globalDailyBudget).usd)
            }
            let (redisUsage, databaseUsage) = (redis.usage, database.usage)
            metrics.sample(breaker: await breaker(), pools: [
                .init(pool: "redis", inUse: redisUsage.inUse, idle: redisUsage.idle, waiters: redisUsage.waiters),
                .init(pool: "postgresql", inUse: databaseUsage.inUse, idle: databaseUsage.idle, waiters: databaseUsage.waiters),
            ])
            try? await Task.sleep(for: .seconds(1))
        }
    }

    /// Reads the supervisor's messages on a thread of their own.
    static func followSupervisor(_ link: SupervisorLink, server: WorkerServer<AppRequestContext>, drain: DrainState, metrics: WorkerMetrics) {
        let thread = NIOThreadPool(numberOfThreads: 1)
        thread.start()
        thread.submit { _ in
            link.run { message in
                switch message {
                case .drain: drain.beginDraining()
                case .cover(let slot): server.cover(WorkerContract.listener(slot: slot))
                case .uncover(let slot): server.uncover(WorkerContract.listener(slot: slot))
                case .metricsCollect(let gather): link.send(.metricsReport(gather: gather, exposition: metrics.exposition()))
                default: break
                }
            }
        }
    }

    /// SIGUSR1 reopens LOG_FILE; SIGUSR2 blocks every event loop when the test hook asks for it.
    static func handleSignals(hooks: TestHooks, logFile: String?, environment: [String: String], logger: Logger) async {
        for await signal in await UnixSignalsSequence(trapping: .sigusr1, .sigusr2) {
            if signal == .sigusr1, let logFile {
                if let problem = LogFile.redirectStandardError(to: LogFile.resolve(logFile, environment: environment)) {
                    logger.error("\(problem)")
                } else {
                    logger.info("log file reopened")
                }
            }
            if signal == .sigusr2, hooks.blockEventLoopsOnSIGUSR2 {
                logger.warning("blocking every event loop (test hook \(TestHooks.variable))")
                for loop in MultiThreadedEventLoopGroup.singleton.makeIterator() { loop.execute { sleep(3600) } }
            }
        }
    }
}
