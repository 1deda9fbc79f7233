import ArgumentParser
import Assistant
import Auth
import HTTPAPI
import Hummingbird
import LLM
import Logging
import NIOPosix
import PostgresClient
import RedisClient
import Settings
import ServiceLifecycle
import UnixSignals
import Store
import Supervisor

#if canImport(Glibc)
import Glibc
#endif

/// `serve`: runs the HTTP API. (One in-process worker for now; the
/// supervisor with pre-forked workers replaces this.)
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the HTTP API.")

    @OptionGroup var options: ConfigurationOptions
    @Option(help: "Write the bound port to this file once the server accepts connections (useful with PORT=0).")
    var portFile: String?

    func run() async throws {
        let (configuration, _) = try options.load { reader throws(ConfigurationError) in
            try ServerConfiguration(reading: reader, cpuCount: ConfigurationOptions.cpuCount)
        }
        guard configuration.llm.provider == .local else {
            printError("scribes-assistant: configuration error: LLM_PROVIDER: '\(configuration.llm.provider.rawValue)' is not available in this build yet; accepted: local")
            throw ExitCode(ConfigurationError.exitCode)
        }
        var logger = Logger(label: "scribes-assistant")
        logger.logLevel = Logger.Level(rawValue: configuration.observability.logLevel.rawValue) ?? .info

        let threadPool = NIOThreadPool(numberOfThreads: configuration.database.maxConnections + 2)
        threadPool.start()
        let database = PostgresConnectionPool(
            configuration: .init(url: configuration.database.url, maxConnections: configuration.database.maxConnections, statementTimeoutMilliseconds: 30_000),
            threadPool: threadPool, eventLoop: MultiThreadedEventLoopGroup.singleton.any(), logger: logger)
        defer { database.shutdown() }
        do {
            try await Migrator(pool: database, logger: logger).checkSchema()
        } catch {
            printError("scribes-assistant: \(error)")
            throw ExitCode(DatabaseCommandContext.exitStatus(for: error))
        }
        let redis = RedisClient(
            configuration: .init(
                host: configuration.redis.host, port: configuration.redis.port, password: configuration.redis.password,
                database: configuration.redis.database, maxConnections: configuration.redis.maxConnections),
            logger: logger)
        defer { redis.shutdown() }

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
            queryMaxCharacters: configuration.answers.queryMaxCharacters)

        let listener: ListeningSocket
        do {
            listener = try ListeningSocket.bind(host: configuration.server.host, port: configuration.server.port)
        } catch {
            printError("scribes-assistant: \(error)")
            throw ExitCode(71)  // EX_OSERR
        }
        if let portFile { writeAtomically(String(listener.port) + "\n", to: portFile) }
        logger.info("listening", metadata: ["address": "\(configuration.server.host):\(listener.port)"])
        let server = WorkerServer(
            router: makeRouter(services), descriptor: listener.descriptor,
            idleTimeoutSeconds: configuration.server.keepAliveTimeout, logger: logger)
        try await ServiceGroup(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger).run()
    }
}

/// Writes `text` to a temporary file beside `path`, then renames it into place.
func writeAtomically(_ text: String, to path: String) {
    let temporary = path + ".tmp"
    guard let file = fopen(temporary, "w") else { return }
    fputs(text, file)
    fclose(file)
    rename(temporary, path)
}
