import ArgumentParser
import Settings
import Store
import WorkerRuntime

extension DataCommandContext {
    /// Runs `body` with a pool for `settings`; an error becomes one line on standard error and a sysexits status.
    @discardableResult
    static func runCommand<Result>(_ settings: DatabaseSettings, _ body: (DataCommandContext) async throws -> Result) async throws -> Result {
        do {
            return try await run(settings, body)
        } catch {
            printError("scribes-assistant: \(error)")
            throw ExitCode(exitStatus(for: error))
        }
    }
}

/// `--skip-invalid` for the import commands.
struct ImportOptions: ParsableArguments {
    @Flag(help: "Skip invalid lines (each is reported) instead of importing nothing.")
    var skipInvalid = false

    var mode: ImportMode { skipInvalid ? .skipInvalid : .allOrNothing }
}
