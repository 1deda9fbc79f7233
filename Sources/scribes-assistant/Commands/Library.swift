import ArgumentParser
import Settings
import Store

/// `library`: the shared scripture library.
struct Library: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Manage the scripture library.", subcommands: [Import.self])

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import verses from a JSONL file ({\"ref\",\"book\",\"chapter\",\"verse\",\"text\"} per line). Verses already present are kept, so a re-import adds nothing."
        )

        @OptionGroup var options: ConfigurationOptions
        @OptionGroup var importOptions: ImportOptions
        @Argument(help: "The JSONL file.") var file: String

        func run() async throws {
            let (settings, _) = try options.load(DatabaseSettings.init(reading:))
            try await DatabaseCommandContext.run(settings) { context in
                let start = ContinuousClock.now
                let summary = try await ScriptureLibrary(pool: context.pool).importVerses(from: file, mode: importOptions.mode)
                print(summary.report(noun: "verses", seconds: secondsSince(start)))
            }
            try await invalidateCachedAnswers(options, userID: nil)
        }
    }
}
