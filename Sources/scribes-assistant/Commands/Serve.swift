import ArgumentParser
import Logging
import Observability
import PostgresClient
import Settings
import Store
import Supervisor
import WorkerRuntime

#if canImport(Glibc)
import Glibc
#endif

/// `serve`: the supervisor. Validates the configuration and the schema,
/// binds one SO_REUSEPORT socket per worker slot, and runs the worker
/// processes. Synchronous on purpose: no Swift concurrency threads here.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the appliance: a supervisor and WORKERS worker processes sharing one port.")

    @OptionGroup var options: ConfigurationOptions
    @Option(help: "Write the bound port to this file once every worker accepts connections (useful with PORT=0).")
    var portFile: String?

    /// Runs on the main thread with the supervisor's signals already blocked (see ``Entry``).
    func run() throws {
        let (configuration, reader) = try options.load { reader throws(ConfigurationError) in
            try ServerConfiguration(reading: reader, cpuCount: ConfigurationOptions.cpuCount)
        }
        let environment = ConfigurationOptions.processEnvironment()
        if let logFile = configuration.observability.logFile, let problem = LogFile.redirectStandardError(to: LogFile.resolve(logFile, environment: environment)) {
            printError("scribes-assistant: \(problem)")
            throw ExitCode(73)  // EX_CANTCREAT
        }
        let logger = makeLogger(configuration)
        do {
            try Migrator.checkSchema(on: PostgresConnection(url: configuration.database.url))
        } catch {
            printError("scribes-assistant: \(error)")
            throw ExitCode(DatabaseCommandContext.exitStatus(for: error))
        }
        let (listeners, metricsListener) = try bind(configuration.server)
        let port = listeners[0].port
        logger.info("listening", metadata: ["address": "\(configuration.server.host):\(port)", "workers": "\(listeners.count)"])
        let portFile = self.portFile
        let reloader = Reloader(options: options, running: configuration, logger: logger)
        let supervisor = Supervisor(
            options: .init(
                workerArguments: ["worker"],
                policy: Reloader.policy(configuration, workerEnvironment: reader.fileSettings),
                metricsListener: metricsListener,
                reload: reloader.reload,
                reopenLog: reloader.reopenLog,
                onReady: { if let portFile { writeAtomically(String(port) + "\n", to: portFile) } }),
            listeners: listeners,
            logger: logger)
        let status = supervisor.run()
        if status != 0 { throw ExitCode(status) }
    }

    /// One SO_REUSEPORT socket per worker slot, and the metrics listener when METRICS_PORT is set.
    private func bind(_ server: ServerSettings) throws -> ([ListeningSocket], ListeningSocket?) {
        do {
            let first = try ListeningSocket.bind(host: server.host, port: server.port)
            let others = try (1..<max(server.workers, 1)).map { _ throws(SupervisorError) in
                try ListeningSocket.bind(host: server.host, port: first.port)
            }
            let metrics = try server.metricsPort.map { port throws(SupervisorError) in try ListeningSocket.bind(host: server.metricsHost ?? server.host, port: port) }
            return ([first] + others, metrics)
        } catch {
            printError("scribes-assistant: \(error)")
            throw ExitCode(71)  // EX_OSERR
        }
    }
}

/// SIGHUP and SIGUSR1 for the supervisor: re-reads the env file, reports
/// keys that only a restart applies, and follows LOG_FILE.
final class Reloader {
    /// Keys the supervisor applies only at start: it has bound its sockets and counted its slots.
    static let restartKeys: [(String, @Sendable (ServerConfiguration) -> String)] = [
        ("HOST", { $0.server.host }), ("PORT", { "\($0.server.port)" }), ("WORKERS", { "\($0.server.workers)" }),
        ("METRICS_HOST", { $0.server.metricsHost ?? "" }), ("METRICS_PORT", { $0.server.metricsPort.map(String.init) ?? "" }),
    ]

    let options: ConfigurationOptions
    let logger: Logger
    private(set) var running: ServerConfiguration
    /// The values the restart keys had at start.
    private let started: ServerConfiguration

    init(options: ConfigurationOptions, running: ServerConfiguration, logger: Logger) {
        self.options = options
        self.running = running
        self.started = running
        self.logger = logger
    }

    static func policy(_ configuration: ServerConfiguration, workerEnvironment: [String]) -> Supervisor.Policy {
        .init(
            workerTimeout: .seconds(configuration.server.workerTimeout), gracefulTimeout: .seconds(configuration.server.gracefulTimeout),
            shutdownDelay: .seconds(configuration.server.shutdownDelay), workerEnvironment: workerEnvironment)
    }

    /// Reads and validates the configuration again; throws (and changes nothing) when it is invalid.
    func reload() throws -> Supervisor.Policy {
        let reader = try options.makeReader()
        let next = try ServerConfiguration(reading: reader, cpuCount: ConfigurationOptions.cpuCount)
        for (key, value) in Self.restartKeys where value(next) != value(started) {
            logger.warning("\(key) changed; it takes effect only at the next restart (systemctl restart), keeping \(key)=\(value(started))")
        }
        if next.observability.logFile != running.observability.logFile {
            logger.notice("LOG_FILE changed", metadata: ["log_file": "\(next.observability.logFile ?? "standard error")"])
        }
        running = next
        reopenLog()
        return Self.policy(next, workerEnvironment: reader.fileSettings)
    }

    /// Points standard error at LOG_FILE again (after logrotate moved the old file).
    func reopenLog() {
        guard let logFile = running.observability.logFile else { return }
        if let problem = LogFile.redirectStandardError(to: LogFile.resolve(logFile, environment: ConfigurationOptions.processEnvironment())) {
            logger.error("\(problem)")
        }
    }
}

/// Bootstraps logging as LOG_FORMAT and LOG_LEVEL say (once per process,
/// after LOG_FILE is in place: standard error decides the journal prefixes)
/// and returns the process's logger.
func makeLogger(_ configuration: ServerConfiguration) -> Logger {
    let level = Logger.Level(rawValue: configuration.observability.logLevel.rawValue) ?? .info
    let format = LogLineHandler.Format(rawValue: configuration.observability.logFormat.rawValue) ?? .logfmt
    Observability.bootstrapLogging(format: format, level: level, environment: ConfigurationOptions.processEnvironment())
    var logger = Logger(label: "scribes-assistant")
    logger.logLevel = level
    return logger
}

/// Writes `text` to a temporary file beside `path`, then renames it into place.
func writeAtomically(_ text: String, to path: String) {
    let temporary = path + ".tmp"
    guard let file = fopen(temporary, "w") else { return }
    fputs(text, file)
    fclose(file)
    rename(temporary, path)
}
