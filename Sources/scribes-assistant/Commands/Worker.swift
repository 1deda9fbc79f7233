import ArgumentParser
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
import PostgresClient
import RedisClient
import ServiceLifecycle
import Settings
import Store
import Supervisor
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// `worker`: one worker process, started by `serve` (never by hand). It
/// serves the API on the listening socket of its slot, reports ready and
/// heartbeats over its control channel, follows the supervisor's messages,
/// and dies with its supervisor.
///
/// Its configuration is its environment, which the supervisor composed from
/// its own and the env file it last read successfully: a worker started
/// after a failed reload runs the configuration that is in force.
struct Worker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker", abstract: "A worker process (started by serve).", shouldDisplay: false)

    func run() async throws {
        setParentDeathSignal(SIGTERM)
        let environment = ConfigurationOptions.processEnvironment()
        guard let slot = environment[WorkerContract.slotVariable].flatMap(Int.init),
              let slots = environment[WorkerContract.slotsVariable].flatMap(Int.init), (0..<slots).contains(slot),
              let supervisor = environment[WorkerContract.supervisorVariable].flatMap(Int32.init)
        else {
            printError("scribes-assistant: `worker` is started by `serve`; run `scribes-assistant serve`")
            throw ExitCode(64)
        }
        // The supervisor died before PR_SET_PDEATHSIG took effect: nobody would stop us.
        guard getppid() == supervisor else { throw ExitCode(0) }
        let hooks = TestHooks(environment: environment, slot: slot)
        if hooks.exitAtStart {
            printError("scribes-assistant: worker exiting at start (test hook \(TestHooks.variable))")
            throw ExitCode(1)
        }
        let configuration: ServerConfiguration
        do {
            configuration = try ServerConfiguration(reading: ConfigurationReader(environment: environment), cpuCount: ConfigurationOptions.cpuCount)
        } catch {
            printError("scribes-assistant: \(error)")
            throw ExitCode(ConfigurationError.exitCode)
        }
        if let logFile = configuration.observability.logFile {
            // Usually the file the supervisor already gave us as standard error; after a reload, maybe a new one.
            LogFile.redirectStandardError(to: LogFile.resolve(logFile, environment: environment))
        }
        var logger = makeLogger(configuration)
        logger[metadataKey: "slot"] = "\(slot)"

        let threadPool = NIOThreadPool(numberOfThreads: configuration.database.maxConnections + 2)
        threadPool.start()
        let database = PostgresConnectionPool(
            configuration: .init(url: configuration.database.url, maxConnections: configuration.database.maxConnections, statementTimeoutMilliseconds: 30_000),
            threadPool: threadPool, eventLoop: MultiThreadedEventLoopGroup.singleton.any(), logger: logger)
        defer { database.shutdown() }
        let redis = RedisClient(
            configuration: .init(
                host: configuration.redis.host, port: configuration.redis.port, password: configuration.redis.password,
                database: configuration.redis.database, maxConnections: configuration.redis.maxConnections),
            logger: logger)
        defer { redis.shutdown() }
        let link = SupervisorLink(slots: slots)
        let drain = DrainState()
        let metrics = WorkerMetrics()
        let totals: @Sendable () async -> String? = { await link.requestTotals(timeout: .seconds(3)) }
        let upstream = Upstream(configuration.llm)
        var policy = RateLimiter.Policy(configuration.limits)
        policy.clockOffset = hooks.limiterClockOffset
        let limiter = configuration.limits.enabled ? RateLimiter(redis: redis, policy: policy, logger: logger) : nil
        let limiterWork = Task { await limiter?.run() }
        let services = APIServices(
            users: UserStore(pool: database, threadPool: threadPool),
            notes: NoteStore(pool: database),
            assistant: AssistantService(
                search: PassageSearch(pool: database), provider: upstream.provider, pricing: upstream.pricing,
                topK: configuration.answers.retrievalTopK, contextMaxTokens: configuration.answers.contextMaxTokens,
                maxTokens: configuration.llm.maxTokens),
            tokens: await AccessTokens(secret: configuration.auth.jwtSecret, lifetimeSeconds: configuration.auth.tokenLifetimeSeconds),
            loginThrottle: LoginThrottle(redis: redis, timeout: .milliseconds(configuration.limits.redisTimeoutMilliseconds), logger: logger),
            redis: redis,
            database: database,
            queryMaxCharacters: configuration.answers.queryMaxCharacters,
            drain: drain, metrics: metrics, metricsTotals: totals,
            servesMetrics: environment[WorkerContract.metricsVariable] == nil,
            llmCircuit: upstream.circuitState,
            limiter: limiter, userDailyCostUSD: configuration.limits.userDailyCostUSD)

        if slot == 0, configuration.limits.enabled { Self.warnAboutBudgets(configuration, assistant: services.assistant, logger: logger) }
        let server = WorkerServer(
            router: makeRouter(services), descriptor: WorkerContract.listener(slot: slot),
            options: .init(
                idleTimeout: .seconds(configuration.server.keepAliveTimeout), gracefulTimeout: .seconds(configuration.server.gracefulTimeout),
                requestLimit: Self.requestLimit(configuration.server)),
            logger: logger,
            onAccepting: { link.send(.ready) },
            onRequestLimit: { link.send(.recycle) })
        var servers: [any Service] = [server]
        // One listening socket for every process: only slot 0 accepts on it, so
        // no two processes race for each scrape (a lost accept race is harmless
        // in release builds but NIO asserts on it in debug builds).
        if environment[WorkerContract.metricsVariable] != nil, slot == 0 {
            servers.append(WorkerServer(
                router: makeMetricsRouter(totals: totals), descriptor: WorkerContract.metricsListener(slots: slots),
                options: .init(idleTimeout: .seconds(configuration.server.keepAliveTimeout), gracefulTimeout: .seconds(configuration.server.gracefulTimeout)),
                logger: logger))
        }
        let heartbeat = Self.startHeartbeat(link, metrics: metrics)
        defer { heartbeat.cancel() }
        await Self.warmUp(database: database, connections: configuration.database.maxConnections, redis: redis)
        Self.followSupervisor(link, server: server, drain: drain, metrics: metrics)
        let signals = Task { await Self.handleSignals(hooks: hooks, logFile: configuration.observability.logFile, environment: environment, logger: logger) }
        defer { signals.cancel() }
        try await ServiceGroup(services: servers, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger).run()
        // Every request has settled: deliver what is still queued before the pools close.
        limiter?.stop()
        await limiterWork.value
        // Counted since the last gather: the supervisor keeps these totals after we exit.
        link.send(.metricsReport(gather: 0, exposition: metrics.exposition()))
    }

    /// A budget smaller than the most one query reserves refuses every paid
    /// query with 0 spent: say so at startup rather than leave users puzzled.
    static func warnAboutBudgets(_ configuration: ServerConfiguration, assistant: AssistantService, logger: Logger) {
        let characters = configuration.answers.queryMaxCharacters
        guard let longest = try? Question(String(repeating: "x", count: characters), maxCharacters: characters) else { return }
        let reservation = assistant.reservation(for: longest)
        let budgets = [("USER_DAILY_COST_LIMIT", configuration.limits.userDailyCostUSD), ("GLOBAL_DAILY_COST_LIMIT", configuration.limits.globalDailyCostUSD)]
        for (key, budget) in budgets where reservation > budget {
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

    /// WORKER_MAX_REQUESTS plus a random share of the jitter; nil when recycling is off.
    static func requestLimit(_ server: ServerSettings) -> Int? {
        server.maxRequests == 0 ? nil : server.maxRequests + Int.random(in: 0...server.maxRequestsJitter)
    }

    /// Sends a heartbeat four times a second once every event loop has run a
    /// task: a blocked loop stops the heartbeats, and the supervisor kills
    /// the worker after WORKER_TIMEOUT. Every second it also reports its
    /// metrics, so a worker that is killed loses at most a second of counts.
    static func startHeartbeat(_ link: SupervisorLink, metrics: WorkerMetrics) -> RepeatedTask {
        let group = MultiThreadedEventLoopGroup.singleton
        let beats = NIOLockedValueBox(0)
        return group.next().scheduleRepeatedTask(initialDelay: .milliseconds(250), delay: .milliseconds(250)) { _ in
            let loops = group.makeIterator().map { $0.submit {} }
            EventLoopFuture.andAllSucceed(loops, on: group.next()).whenSuccess {
                link.send(.heartbeat)
                if beats.withLockedValue({ $0 += 1; return $0 % 4 == 0 }) {
                    link.send(.metricsReport(gather: 0, exposition: metrics.exposition()))
                }
            }
        }
    }

    /// Reads the supervisor's messages on a thread of their own.
    static func followSupervisor(_ link: SupervisorLink, server: WorkerServer, drain: DrainState, metrics: WorkerMetrics) {
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
            if signal == .sigusr1, let logFile, let problem = LogFile.redirectStandardError(to: LogFile.resolve(logFile, environment: environment)) {
                logger.error("\(problem)")
            }
            if signal == .sigusr2, hooks.blockEventLoopsOnSIGUSR2 {
                logger.warning("blocking every event loop (test hook \(TestHooks.variable))")
                for loop in MultiThreadedEventLoopGroup.singleton.makeIterator() { loop.execute { sleep(3600) } }
            }
        }
    }
}

/// The LLM provider LLM_PROVIDER names, with its prices and circuit breaker.
struct Upstream {
    let provider: any LLMProvider
    let pricing: Pricing
    let circuitState: @Sendable () -> String

    init(_ llm: LLMSettings) {
        guard llm.provider.isPaid, let model = llm.model else {
            (provider, pricing, circuitState) = (LocalProvider(), .free, { CircuitBreaker.State.closed.rawValue })
            return
        }
        let breaker = CircuitBreaker(failureThreshold: llm.breakerFailures, resetTimeout: .seconds(llm.breakerResetSeconds))
        provider = ChatCompletionsProvider(
            configuration: .init(name: llm.provider.rawValue, baseURL: llm.baseURL, model: model, apiToken: llm.apiToken, timeout: .seconds(llm.timeoutSeconds)),
            client: CurlHTTPClient(), breaker: breaker)
        if let input = llm.priceInputPer1K, let output = llm.priceOutputPer1K {
            pricing = .perThousandTokens(input: input, output: output)
        } else {
            // Configuration allows this only with LLM_ALLOW_UNPRICED (+ its reserve) or with limiting off; either way marked estimated.
            pricing = .flat(usd: llm.unpricedReserveUSD ?? 0)
        }
        circuitState = { breaker.state.rawValue }
    }
}

/// Behaviour only tests switch on, through SCRIBES_TEST_HOOKS (comma-separated):
/// `worker-exit-at-start` (every slot) or `worker-exit-at-start:K` (slot K),
/// `block-event-loops-on-sigusr2`, `limiter-clock-offset-ms:N` (moves the
/// limiter's view of Redis time, e.g. to just before midnight UTC).
struct TestHooks {
    static let variable = "SCRIBES_TEST_HOOKS"
    var exitAtStart = false
    var blockEventLoopsOnSIGUSR2 = false
    var limiterClockOffset = Duration.zero

    init(environment: [String: String], slot: Int) {
        for hook in (environment[Self.variable] ?? "").split(separator: ",") {
            switch hook {
            case "worker-exit-at-start", "worker-exit-at-start:\(slot)": exitAtStart = true
            case "block-event-loops-on-sigusr2": blockEventLoopsOnSIGUSR2 = true
            case let hook where hook.hasPrefix("limiter-clock-offset-ms:"):
                limiterClockOffset = .milliseconds(Int(hook.dropFirst("limiter-clock-offset-ms:".count)) ?? 0)
            default: break
            }
        }
    }
}
