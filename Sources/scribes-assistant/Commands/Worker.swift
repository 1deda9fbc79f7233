import ArgumentParser
import Logging
import Settings
import Supervisor
import WorkerRuntime

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
        let environment = ConfigurationReader.processEnvironment()
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
        var logger = makeProcessLogger(configuration, environment: environment)
        logger[metadataKey: "slot"] = "\(slot)"

        try await WorkerProcess(configuration: configuration, environment: environment, slot: slot, slots: slots, hooks: hooks, logger: logger).run()
    }
}
