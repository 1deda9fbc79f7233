import ArgumentParser
import CurlHTTP
import Settings
import Store
import WorkerRuntime

/// `notes`: bulk operations on a user's sermon notes.
struct Notes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Manage sermon notes.", subcommands: [Import.self])

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import notes from a JSONL file ({\"title\",\"body\",\"preached_on\"?,\"speaker\"?} per line) for one user. Notes the user already has are not added twice."
        )

        @OptionGroup var options: ConfigurationOptions
        @OptionGroup var importOptions: ImportOptions
        @Argument(help: "The JSONL file.") var file: String
        @Option(help: "The email of the user who owns the notes.") var user: String

        func run() async throws {
            let (settings, _) = try options.load { reader throws(ConfigurationError) in
                (try DatabaseSettings(reading: reader), try RetrievalSettings(reading: reader))
            }
            let ownerID = try await DataCommandContext.runCommand(settings.0) { context in
                guard let owner = try await UserStore(pool: context.pool, threadPool: context.threadPool).user(email: user) else {
                    throw StoreError(code: .notFound, message: "no user with email \(user): add it first with `scribes-assistant users add`")
                }
                let start = ContinuousClock.now
                let http = CurlHTTPClient()
                defer { http.shutdown() }
                let embedder = try commandEmbedding(settings.1, context).embedder(http: http, what: "notes")
                let summary = try await NoteStore(pool: context.pool, embedder: embedder).importNotes(from: file, userID: owner.id, mode: importOptions.mode)
                print(summary.report(noun: "notes", seconds: secondsSince(start)))
                return owner.id
            }
            try await invalidateCachedAnswers(options, userID: ownerID)
        }
    }
}
