import ArgumentParser

/// The `scribes-assistant` command: argument parsing and wiring only.
@main
struct ScribesAssistant: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scribes-assistant",
        abstract: "An LLM assistant over sermon notes and scripture, with rate limits and cost budgets.",
        version: ScribesVersion.current,
        subcommands: [Serve.self, CheckConfig.self, Migrate.self, Users.self, Notes.self, Library.self]
    )
}

enum ScribesVersion {
    static let current = "0.1.0"
}
