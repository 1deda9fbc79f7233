import ArgumentParser
import CurlHTTP
import Embeddings
import Settings
import Store
import WorkerRuntime

/// `library`: the shared scripture library.
struct Library: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the scripture library.", subcommands: [Import.self, ImportTopics.self, Embed.self, ExportVectors.self])

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: """
                Import verses from a JSONL file ({"ref","book","chapter","verse","text"} per line), then give each new verse its vector \
                for retrieval by meaning. Verses already present are kept, so a re-import adds nothing.
                """
        )

        @OptionGroup var options: ConfigurationOptions
        @OptionGroup var importOptions: ImportOptions
        @Option(help: "Precomputed vectors (default: the file beside FILE named *.vectors, when present); texts they hold are not embedded again.")
        var vectors: String?
        @Argument(help: "The JSONL file.") var file: String

        func run() async throws {
            try await importAndEmbed(options, file: file, vectors: vectors, collection: .verses) { library in
                try await library.importVerses(from: file, mode: importOptions.mode)
            }
        }
    }

    struct ImportTopics: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import-topics",
            abstract: """
                Import a topical index from a JSONL file ({"label","refs"} per line: the package ships Nave's Topical Bible as \
                naves-topics.jsonl), then give each new subject its vector.
                """
        )

        @OptionGroup var options: ConfigurationOptions
        @OptionGroup var importOptions: ImportOptions
        @Option(help: "Precomputed vectors (default: the file beside FILE named *.vectors, when present).") var vectors: String?
        @Argument(help: "The JSONL file.") var file: String

        func run() async throws {
            try await importAndEmbed(options, file: file, vectors: vectors, collection: .topics) { library in
                try await library.importTopics(from: file, mode: importOptions.mode)
            }
        }
    }

    struct Embed: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Give every verse without one a vector of the configured model (after changing the model; `library import` does this itself)."
        )

        @OptionGroup var options: ConfigurationOptions
        @Option(help: "Precomputed vectors of the verses; texts they hold are not embedded again.") var vectors: String?
        @Option(help: "Precomputed vectors of the topical index's subjects.") var topicVectors: String?

        func run() async throws {
            try await options.withDatabase { retrieval, context in
                try await embedLibrary(retrieval, context: context, vectors: vectors)
                try await embedLibrary(retrieval, context: context, vectors: topicVectors, collection: .topics)
            }
        }
    }

    struct ExportVectors: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export-vectors",
            abstract: "Write the library's vectors of the configured model, keyed by their texts, for `library import --vectors` elsewhere."
        )

        @OptionGroup var options: ConfigurationOptions
        @Flag(help: "The topical index's vectors instead of the verses'.") var topics = false
        @Argument(help: "The file to write.") var file: String

        func run() async throws {
            try await options.withDatabase { retrieval, context in
                let http = CurlHTTPClient()
                defer { http.shutdown() }
                guard let embedder = try retrieval.makeEmbedder(threadPool: context.threadPool, http: http) else {
                    throw ValidationError("RETRIEVAL_MODE=words: no model, nothing to export")
                }
                guard let vectors = try await PassageVectors(pool: context.pool).export(topics ? .topics : .verses, model: embedder.model) else {
                    throw ValidationError("the library has no vectors of \(embedder.model): run `library embed` first")
                }
                try vectors.write(to: file)
                print("wrote \(vectors.count) vectors of \(vectors.model) to \(file)")
            }
        }
    }
}

/// An import of the library: `load` reads the file, then what is new is
/// embedded (with the vectors beside the file unless `vectors` names others)
/// and the cached answers built on the old library are no longer served.
private func importAndEmbed(
    _ options: ConfigurationOptions, file: String, vectors: String?, collection: PassageVectors.Collection,
    load: @escaping (ScriptureLibrary) async throws -> ImportSummary
) async throws {
    try await options.withDatabase { retrieval, context in
        let start = ContinuousClock.now
        let summary = try await load(ScriptureLibrary(pool: context.pool))
        print(summary.report(noun: collection == .verses ? "verses" : "topics", seconds: secondsSince(start)))
        try await embedLibrary(retrieval, context: context, vectors: vectors ?? LibraryEmbedding.vectors(beside: file), collection: collection)
    }
    try await invalidateCachedAnswers(options, userID: nil)
}

/// Embeds what lacks a vector of the configured model, showing progress on a terminal.
func embedLibrary(_ settings: RetrievalSettings, context: DataCommandContext, vectors: String?, collection: PassageVectors.Collection = .verses) async throws {
    try await commandEmbedding(settings, context).run(vectors: vectors, collection: collection, progress: .onTerminal())
}

/// Embedding for a data command: results on standard output, problems on standard error.
func commandEmbedding(_ settings: RetrievalSettings, _ context: DataCommandContext) -> LibraryEmbedding {
    LibraryEmbedding(settings: settings, context: context, report: { print($0) }, warn: { printError("scribes-assistant: \($0)") })
}

extension ConfigurationOptions {
    /// Runs a data command that embeds: the database's and retrieval's settings read (exit 78 when invalid), then `body` with a pool.
    func withDatabase(_ body: (RetrievalSettings, DataCommandContext) async throws -> Void) async throws {
        let (settings, _) = try load { reader throws(ConfigurationError) in
            (try DatabaseSettings(reading: reader), try RetrievalSettings(reading: reader))
        }
        try await DataCommandContext.runCommand(settings.0) { try await body(settings.1, $0) }
    }
}
