import CurlHTTP
import Embeddings
import Primitives
import Settings
import Store

#if canImport(Glibc)
import Glibc
#endif

/// Gives the library's verses (or topics) that lack a vector of the
/// configured model one, for the data commands.
public struct LibraryEmbedding {
    let settings: RetrievalSettings
    let context: DataCommandContext
    /// What was done (standard output).
    let report: (String) -> Void
    /// Why nothing is embedded, or that precomputed vectors do not fit (standard error).
    let warn: (String) -> Void

    public init(settings: RetrievalSettings, context: DataCommandContext, report: @escaping (String) -> Void, warn: @escaping (String) -> Void) {
        self.settings = settings
        self.context = context
        self.report = report
        self.warn = warn
    }

    /// `kjv-verses.jsonl` → `kjv-verses.vectors`, when that file exists: the precomputed vectors shipped beside an import file.
    public static func vectors(beside file: String) -> String? {
        let base = file.hasSuffix(".jsonl") ? String(file.dropLast(6)) : file
        return access(base + ".vectors", R_OK) == 0 ? base + ".vectors" : nil
    }

    /// Embeds what lacks a vector, reusing `path`'s precomputed vectors.
    public func run(vectors path: String?, collection: PassageVectors.Collection = .verses, progress: ProgressMeter? = nil) async throws {
        let what = collection == .verses ? "verses" : "topics"
        let http = CurlHTTPClient()
        defer { http.shutdown() }
        guard let embedder = try embedder(http: http, what: what) else { return }
        let precomputed = try path.map { path throws(EmbeddingError) in try VectorFile(contentsOf: path) }
        if let precomputed, precomputed.model != embedder.model {
            warn("\(path ?? "") holds vectors of \(precomputed.model), not of \(embedder.model): embedding every verse")
        }
        // One OpenBLAS thread per batch, two batches at once (PassageVectors.embedLibrary): small products do not pay for thread hand-offs.
        SentenceEncoder.setBLASThreads(1)
        let start = ContinuousClock.now
        let (computed, reused) = try await PassageVectors(pool: context.pool).embedLibrary(
            with: embedder, precomputed: precomputed, collection: collection, progress: { progress?.report(done: $0, total: $1) })
        progress?.finish()
        report("embedded \(computed) \(what) with \(embedder.model) (\(reused) from precomputed vectors) in \(secondsSince(start).formatted(decimals: 1)) s")
    }

    /// The embedder, or nil (said through `warn`) when the model is not
    /// installed: the data is written all the same, and ranked by words until
    /// `library embed` runs. Nil as well with RETRIEVAL_MODE=words (reported).
    public func embedder(http: CurlHTTPClient, what: String) throws -> (any SentenceEmbedder)? {
        let chosen = Result { () throws(EmbeddingError) in try settings.makeEmbedder(threadPool: context.threadPool, http: http) }
        if case .failure(let error) = chosen, error.code == .modelMissing {
            warn("\(what) not embedded for retrieval by meaning: \(error)")
            return nil
        }
        let embedder = try chosen.get()
        if embedder == nil { report("RETRIEVAL_MODE=words: \(what) are not embedded") }
        return embedder
    }
}

/// Progress of a long run on standard error: done/total, rate and time left, rewritten in place on a terminal.
public struct ProgressMeter: Sendable {
    let start = ContinuousClock.now

    /// A meter when standard error is a terminal, else nil.
    public static func onTerminal() -> ProgressMeter? {
        isatty(STDERR_FILENO) == 1 ? ProgressMeter() : nil
    }

    func report(done: Int, total: Int) {
        guard total > 0 else { return }
        let rate = Double(done) / max(secondsSince(start), 0.001)
        let left = rate > 0 ? Int(Double(total - done) / rate) : 0
        write("\rembedding: \(done)/\(total), \(Int(rate)) verses/s, \(left / 60) min \(left % 60) s left   ")
    }

    func finish() { write("\n") }

    private func write(_ text: String) {
        _ = text.utf8CString.withUnsafeBufferPointer { Glibc.write(STDERR_FILENO, $0.baseAddress, $0.count - 1) }
    }
}

/// Seconds elapsed since `start`.
public func secondsSince(_ start: ContinuousClock.Instant) -> Double { (ContinuousClock.now - start).seconds }
