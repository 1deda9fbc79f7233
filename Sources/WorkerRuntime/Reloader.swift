import Logging
import Settings
import Supervisor

/// SIGHUP and SIGUSR1 for the supervisor: re-reads the env file, reports
/// keys that only a restart applies, and follows LOG_FILE.
public final class Reloader {
    /// Keys the supervisor applies only at start: it has bound its sockets and counted its slots.
    static let restartKeys: [(String, @Sendable (ServerConfiguration) -> String)] = [
        ("HOST", { $0.server.host }), ("PORT", { "\($0.server.port)" }), ("WORKERS", { "\($0.server.workers)" }),
        ("METRICS_HOST", { $0.server.metricsHost ?? "" }), ("METRICS_PORT", { $0.server.metricsPort.map(String.init) ?? "" }),
    ]

    let makeReader: () throws -> ConfigurationReader
    let cpuCount: Int
    let environment: [String: String]
    let logger: Logger
    private(set) var running: ServerConfiguration
    /// The values the restart keys had at start.
    private let started: ServerConfiguration

    /// - Parameters:
    ///   - makeReader: reads the environment and the env file afresh.
    ///   - environment: the process's, to resolve LOG_FILE.
    public init(
        makeReader: @escaping () throws -> ConfigurationReader, cpuCount: Int, environment: [String: String], running: ServerConfiguration,
        logger: Logger
    ) {
        self.makeReader = makeReader
        self.cpuCount = cpuCount
        self.environment = environment
        self.running = running
        self.started = running
        self.logger = logger
    }

    public static func policy(_ configuration: ServerConfiguration, workerEnvironment: [String]) -> Supervisor.Policy {
        .init(
            workerTimeout: .seconds(configuration.server.workerTimeout), gracefulTimeout: .seconds(configuration.server.gracefulTimeout),
            shutdownDelay: .seconds(configuration.server.shutdownDelay), workerEnvironment: workerEnvironment)
    }

    /// Reads and validates the configuration again; throws (and changes nothing) when it is invalid.
    public func reload() throws -> Supervisor.Policy {
        let reader = try makeReader()
        let next = try ServerConfiguration(reading: reader, cpuCount: cpuCount)
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
    public func reopenLog() {
        guard let logFile = running.observability.logFile else { return }
        if let problem = LogFile.redirectStandardError(to: LogFile.resolve(logFile, environment: environment)) {
            logger.error("\(problem)")
        }
    }
}
