import ArgumentParser
import Dispatch
import Supervisor

#if canImport(Glibc)
import Glibc
#endif

/// The process entry point. `serve` (the supervisor) runs synchronously on
/// the main thread with its signals blocked before any other thread exists:
/// an async `main` would start Swift concurrency threads that neither block
/// SIGCHLD nor outlive idleness (DESIGN §2). Every other command runs on the
/// concurrency runtime while the main thread parks in `dispatchMain()`.
@main
enum Entry {
    static func main() {
        if CommandLine.arguments.dropFirst().first == "serve" {
            Supervisor.blockSignals()
            do {
                var command = try ScribesAssistant.parseAsRoot()
                try command.run()
                exit(0)
            } catch {
                ScribesAssistant.exit(withError: error)
            }
        }
        Task {
            await ScribesAssistant.main()
            exit(0)
        }
        dispatchMain()
    }
}

/// The `scribes-assistant` command: argument parsing and wiring only.
struct ScribesAssistant: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scribes-assistant",
        abstract: "An LLM assistant over sermon notes and scripture, with rate limits and cost budgets.",
        version: ScribesVersion.current,
        subcommands: [Serve.self, Worker.self, CheckConfig.self, Migrate.self, Users.self, Notes.self, Library.self, LimitsCommand.self]
    )
}
