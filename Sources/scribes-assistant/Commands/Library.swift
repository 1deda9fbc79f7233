import ArgumentParser
import CurlHTTP
import Embeddings
import Settings
import Store
import WorkerRuntime

#if canImport(Glibc)
import Glibc
#endif

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
            try await options.withDatabase { retrieval, context in
                let start = ContinuousClock.now
                let summary = try await ScriptureLibrary(pool: context.pool).importVerses(from: file, mode: importOptions.mode)
                print(summary.report(noun: "verses", seconds: secondsSince(start)))
                try await embedLibrary(retrieval, context: context, vectors: vectors ?? Self.siblingVectors(of: file))
            }
            try await invalidateCachedAnswers(options, userID: nil)
        }

        /// `kjv-verses.jsonl` → `kjv-verses.vectors`, when that file exists.
        static func siblingVectors(of file: String) -> String? {
            let base = file.hasSuffix(".jsonl") ? String(file.dropLast(6)) : file
            return access(base + ".vectors", R_OK) == 0 ? base + ".vectors" : nil
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
            try await options.withDatabase { retrieval, context in
                let start = ContinuousClock.now
                let summary = try await ScriptureLibrary(pool: context.pool).importTopics(from: file, mode: importOptions.mode)
                print(summary.report(noun: "topics", seconds: secondsSince(start)))
                try await embedLibrary(retrieval, context: context, vectors: vectors ?? Import.siblingVectors(of: file), collection: .topics)
            }
            try await invalidateCachedAnswers(options, userID: nil)
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

/// Embeds the verses that lack a vector of the configured model, reporting progress on a terminal.
func embedLibrary(
    _ settings: RetrievalSettings, context: DatabaseCommandContext, vectors path: String?, collection: PassageVectors.Collection = .verses
) async throws {
    let what = collection == .verses ? "verses" : "topics"
    let http = CurlHTTPClient()
    defer { http.shutdown() }
    guard let embedder = try commandEmbedder(settings, context: context, http: http, what: what) else { return }
    let precomputed = try path.map { path throws(EmbeddingError) in try VectorFile(contentsOf: path) }
    if let precomputed, precomputed.model != embedder.model {
        printError("scribes-assistant: \(path ?? "") holds vectors of \(precomputed.model), not of \(embedder.model): embedding every verse")
    }
    // One OpenBLAS thread per batch, two batches at once (PassageVectors.embedLibrary): small products do not pay for thread hand-offs.
    SentenceEncoder.setBLASThreads(1)
    let start = ContinuousClock.now
    let meter = ProgressMeter(start: start, onTerminal: isatty(STDERR_FILENO) == 1)
    let (computed, reused) = try await PassageVectors(pool: context.pool).embedLibrary(
        with: embedder, precomputed: precomputed, collection: collection, progress: { meter.report(done: $0, total: $1) })
    meter.finish()
    print("embedded \(computed) \(what) with \(embedder.model) (\(reused) from precomputed vectors) in \(secondsSince(start).formatted(decimals: 1)) s")
}

/// The embedder of a data command, or nil (said on standard error) when
/// retrieval is by words or the model is not installed: the data is written
/// all the same, and ranked by words until `library embed` runs.
func commandEmbedder(_ settings: RetrievalSettings, context: DatabaseCommandContext, http: CurlHTTPClient, what: String) throws -> (any SentenceEmbedder)? {
    let chosen = Result { () throws(EmbeddingError) in try settings.makeEmbedder(threadPool: context.threadPool, http: http) }
    if case .failure(let error) = chosen, error.code == .modelMissing {
        printError("scribes-assistant: \(what) not embedded for retrieval by meaning: \(error)")
        return nil
    }
    let embedder = try chosen.get()
    if embedder == nil { print("RETRIEVAL_MODE=words: \(what) are not embedded") }
    return embedder
}

/// Progress of a long run on standard error: done/total, rate and time left, rewritten in place on a terminal.
struct ProgressMeter: Sendable {
    let start: ContinuousClock.Instant
    let onTerminal: Bool

    func report(done: Int, total: Int) {
        guard onTerminal, total > 0 else { return }
        let seconds = max(secondsSince(start), 0.001)
        let rate = Double(done) / seconds
        let left = rate > 0 ? Int(Double(total - done) / rate) : 0
        var standardError = StandardError()
        print("\rembedding: \(done)/\(total), \(Int(rate)) verses/s, \(left / 60) min \(left % 60) s left   ", terminator: "", to: &standardError)
    }

    func finish() {
        guard onTerminal else { return }
        var standardError = StandardError()
        print("", to: &standardError)
    }
}

extension ConfigurationOptions {
    /// Runs a data command that embeds: the database's and retrieval's settings read (exit 78 when invalid), then `body` with a pool.
    func withDatabase(_ body: (RetrievalSettings, DatabaseCommandContext) async throws -> Void) async throws {
        let (settings, _) = try load { reader throws(ConfigurationError) in
            (try DatabaseSettings(reading: reader), try RetrievalSettings(reading: reader))
        }
        try await DatabaseCommandContext.run(settings.0) { try await body(settings.1, $0) }
    }
}
