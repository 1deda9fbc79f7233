import ArgumentParser
import Assistant
import Auth
import HTTPAPI
import LLM
import Logging
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
/// heartbeats over its control channel, and dies with its supervisor.
struct Worker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker", abstract: "A worker process (started by serve).", shouldDisplay: false)

    @OptionGroup var options: ConfigurationOptions

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
        if environment["SCRIBES_TEST_HOOKS"]?.split(separator: ",").contains("worker-exit-at-start") == true {
            printError("scribes-assistant: worker exiting at start (test hook SCRIBES_TEST_HOOKS=worker-exit-at-start)")
            throw ExitCode(1)
        }
        let (configuration, _) = try options.load { reader throws(ConfigurationError) in
            try ServerConfiguration(reading: reader, cpuCount: ConfigurationOptions.cpuCount)
        }
        try requireSupportedProvider(configuration)
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
        let drain = DrainState()
        let services = APIServices(
            users: UserStore(pool: database, threadPool: threadPool),
            notes: NoteStore(pool: database),
            assistant: AssistantService(
                search: PassageSearch(pool: database), provider: LocalProvider(),
                topK: configuration.answers.retrievalTopK, contextMaxTokens: configuration.answers.contextMaxTokens,
                maxTokens: configuration.llm.maxTokens),
            tokens: await AccessTokens(secret: configuration.auth.jwtSecret, lifetimeSeconds: configuration.auth.tokenLifetimeSeconds),
            loginThrottle: LoginThrottle(redis: redis, timeout: .milliseconds(configuration.limits.redisTimeoutMilliseconds), logger: logger),
            redis: redis,
            database: database,
            queryMaxCharacters: configuration.answers.queryMaxCharacters,
            drain: drain)

        let control = WorkerControlChannel(slots: slots)
        // Heartbeats come from an event loop, so a stuck loop stops them; the
        // same task picks up the supervisor's messages.
        let heartbeat = MultiThreadedEventLoopGroup.singleton.next().scheduleRepeatedTask(initialDelay: .milliseconds(250), delay: .milliseconds(250)) { _ in
            if control.receive().contains(.drain) { drain.beginDraining() }
            control.send(.heartbeat)
        }
        defer { heartbeat.cancel() }
        let server = WorkerServer(
            router: makeRouter(services), descriptor: WorkerContract.listener(slot: slot),
            idleTimeoutSeconds: configuration.server.keepAliveTimeout, logger: logger,
            onAccepting: { control.send(.ready) })
        try await ServiceGroup(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger).run()
    }
}
