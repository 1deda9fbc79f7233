import ArgumentParser
import Logging
import PostgresClient
import Settings
import Store
import Supervisor

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
        let (configuration, _) = try options.load { reader throws(ConfigurationError) in
            try ServerConfiguration(reading: reader, cpuCount: ConfigurationOptions.cpuCount)
        }
        try requireSupportedProvider(configuration)
        let logger = makeLogger(configuration)
        do {
            try Migrator.checkSchema(on: PostgresConnection(url: configuration.database.url))
        } catch {
            printError("scribes-assistant: \(error)")
            throw ExitCode(DatabaseCommandContext.exitStatus(for: error))
        }
        let listeners: [ListeningSocket]
        do {
            let first = try ListeningSocket.bind(host: configuration.server.host, port: configuration.server.port)
            listeners = try [first] + (1..<max(configuration.server.workers, 1)).map { _ throws(SupervisorError) in
                try ListeningSocket.bind(host: configuration.server.host, port: first.port)
            }
        } catch {
            printError("scribes-assistant: \(error)")
            throw ExitCode(71)  // EX_OSERR
        }
        let port = listeners[0].port
        logger.info("listening", metadata: ["address": "\(configuration.server.host):\(port)", "workers": "\(listeners.count)"])
        let portFile = self.portFile
        let supervisor = Supervisor(
            options: .init(
                workerArguments: ["worker"] + (options.envFile.map { ["--env-file", $0] } ?? []),
                workerTimeout: .seconds(configuration.server.workerTimeout),
                gracefulTimeout: .seconds(configuration.server.gracefulTimeout),
                shutdownDelay: .seconds(configuration.server.shutdownDelay),
                onReady: { if let portFile { writeAtomically(String(port) + "\n", to: portFile) } }),
            listeners: listeners,
            logger: logger)
        let status = supervisor.run()
        if status != 0 { throw ExitCode(status) }
    }
}

/// Only the local provider exists until the LLM issue.
func requireSupportedProvider(_ configuration: ServerConfiguration) throws {
    guard configuration.llm.provider == .local else {
        printError("scribes-assistant: configuration error: LLM_PROVIDER: '\(configuration.llm.provider.rawValue)' is not available in this build yet; accepted: local")
        throw ExitCode(ConfigurationError.exitCode)
    }
}

func makeLogger(_ configuration: ServerConfiguration) -> Logger {
    var logger = Logger(label: "scribes-assistant")
    logger.logLevel = Logger.Level(rawValue: configuration.observability.logLevel.rawValue) ?? .info
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
