import ArgumentParser
import Logging
import PostgresClient
import Settings
import Store
import Supervisor
import WorkerRuntime

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
        let environment = ConfigurationReader.processEnvironment()
        if let logFile = configuration.observability.logFile, let problem = LogFile.redirectStandardError(to: LogFile.resolve(logFile, environment: environment)) {
            printError("scribes-assistant: \(problem)")
            throw ExitCode(73)  // EX_CANTCREAT
        }
        let logger = makeProcessLogger(configuration, environment: environment)
        do {
            try Migrator.checkSchema(on: PostgresConnection(url: configuration.database.url))
        } catch {
            printError("scribes-assistant: \(error)")
            throw ExitCode(DataCommandContext.exitStatus(for: error))
        }
        let (listeners, metricsListener) = try bind(configuration.server)
        let port = listeners[0].port
        logger.info("listening", metadata: ["address": "\(configuration.server.host):\(port)", "workers": "\(listeners.count)"])
        let portFile = self.portFile
        let reloader = Reloader(
            makeReader: options.makeReader, cpuCount: ConfigurationOptions.cpuCount, environment: environment, running: configuration, logger: logger)
        let supervisor = Supervisor(
            options: .init(
                workerArguments: ["worker"],
                policy: Reloader.policy(configuration, workerEnvironment: reader.fileSettings),
                metricsListener: metricsListener,
                reload: reloader.reload,
                reopenLog: reloader.reopenLog,
                onReady: { if let portFile { PortFile.write(port, to: portFile) } }),
            listeners: listeners,
            logger: logger)
        let status = supervisor.run()
        if status != 0 { throw ExitCode(status) }
    }

    /// One SO_REUSEPORT socket per worker slot, and the metrics listener when METRICS_PORT is set.
    private func bind(_ server: ServerSettings) throws -> ([ListeningSocket], ListeningSocket?) {
        do {
            let slots = try ListeningSocket.bindSlots(host: server.host, port: server.port, count: server.workers)
            let metrics = try server.metricsPort.map { port throws(SupervisorError) in try ListeningSocket.bind(host: server.metricsHost ?? server.host, port: port) }
            return (slots, metrics)
        } catch {
            printError("scribes-assistant: \(error)")
            throw ExitCode(71)  // EX_OSERR
        }
    }
}
