import CSystemd  // malloc_trim
import CurlHTTP
import Embeddings
import Glibc
import Logging
import NIOPosix
import PostgresClient
import Settings
import Store

/// A worker's retrieval: words always, and meaning when a model is
/// configured and present — its library vectors loaded in the background
/// (readiness never waits for them; until they are, words rank alone).
struct Retrieval {
    let search: HybridSearch
    let embedder: (any SentenceEmbedder)?
    let library: LibraryIndex
    let loading: Task<Void, Never>?

    /// `threadPool` runs the local model (one thread: a worker per core already).
    /// `sharedDirectory`: where the workers share the library's index files (the supervisor's; none: each holds its own).
    /// `announce`: whether this worker logs what every worker would (slot 0's).
    init(
        _ settings: RetrievalSettings, database: PostgresConnectionPool, threadPool: NIOThreadPool, sharedDirectory: String?, announce: Bool, logger: Logger
    ) {
        SentenceEncoder.setBLASThreads(1)
        let library = LibraryIndex()
        self.library = library
        var embedder: (any SentenceEmbedder)?
        do {
            embedder = try settings.makeEmbedder(threadPool: threadPool, http: CurlHTTPClient()).map { CachedEmbedder($0) }
        } catch {
            if announce { logger.warning("Retrieval by meaning is off, passages are ranked by words alone: \(error)") }
        }
        self.embedder = embedder
        let meaning = embedder.map { MeaningSearch(pool: database, embedder: $0, library: library, floor: settings.minSimilarity) }
        search = HybridSearch(words: PassageSearch(pool: database), meaning: meaning, mode: .fused, logger: logger)
        guard let embedder else {
            loading = nil
            return
        }
        loading = Task {
            do {
                try await library.load(from: PassageVectors(pool: database), model: embedder.model, sharedDirectory: sharedDirectory)
                malloc_trim(0)  // the rows read to build an index leave free pages in every thread's arena
                if announce {
                    logger.log(
                        level: library.count == 0 ? .warning : .info,
                        "Retrieval by meaning: \(library.count) verse vectors of \(embedder.model)\(library.count == 0 ? "; run `library embed` (or `library import`), then reload" : "")")
                    // Notes whose vector could not be written with them (an endpoint down) are caught up here.
                    _ = try await NoteStore(pool: database, embedder: embedder).embedMissingNotes(userID: nil)
                }
            } catch {
                logger.warning("Retrieval by meaning: the library vectors did not load, words rank alone until a reload: \(error)")
            }
        }
    }

    /// For health: `retrieval`, `meaning_index` (loaded, loading, empty, off) and `meaning_vectors`.
    var status: @Sendable () -> [String: String] {
        let (library, enabled) = (library, embedder != nil)
        return {
            guard enabled else { return ["retrieval": "words", "meaning_index": "off"] }
            let count = library.count
            let state = count > 0 ? "loaded" : library.attempted ? "empty" : "loading"
            return ["retrieval": count > 0 ? "hybrid" : "words", "meaning_index": state, "meaning_vectors": String(count)]
        }
    }
}
