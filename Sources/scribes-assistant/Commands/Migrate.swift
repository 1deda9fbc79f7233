import ArgumentParser
import Settings
import Store
import WorkerRuntime

/// `migrate`: brings the database schema up to this binary's version.
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply pending database migrations (safe to run twice, or from two hosts at once)."
    )

    @OptionGroup var options: ConfigurationOptions

    func run() async throws {
        let (settings, _) = try options.load(DatabaseSettings.init(reading:))
        try await DataCommandContext.runCommand(settings) { context in
            let applied = try await Migrator(pool: context.pool, logger: context.logger).migrate()
            if applied.isEmpty {
                print("schema is up to date at version \(Migration.latestVersion)")
            } else {
                for migration in applied { print("applied migration \(migration.version): \(migration.name)") }
            }
        }
    }
}
