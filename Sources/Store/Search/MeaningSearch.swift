import Embeddings
import FoundationEssentials
import PostgresClient
import Synchronization

/// Retrieval by meaning, two rankings from the question's vector:
/// - **direct**: an exact scan of every verse's vector (``LibraryIndex``, in
///   memory) and the user's notes' (read with their texts), each above the
///   cosine floor;
/// - **topical**: the subjects of the topical index (Nave's) nearest to the
///   question, above the topic floor, and their verses ranked by their own
///   cosine with the question — how people name a subject today ("taxes",
///   "anxiety") leads to where the KJV speaks of it ("tribute", "care").
/// A question nothing answers reaches neither floor and finds nothing.
public struct MeaningSearch: PassageRetriever {
    let pool: PostgresConnectionPool
    let embedder: any SentenceEmbedder
    let library: LibraryIndex
    /// The cosine a passage must reach (RETRIEVAL_MIN_SIMILARITY).
    let floor: Float
    /// The cosine a topic's label must reach for its verses to be candidates.
    let topicFloor: Float
    /// The nearest topics whose verses are ranked.
    let topics: Int

    public init(pool: PostgresConnectionPool, embedder: any SentenceEmbedder, library: LibraryIndex, floor: Double, topicFloor: Double = 0.55, topics: Int = 3) {
        self.topics = topics
        self.pool = pool
        self.embedder = embedder
        self.library = library
        self.floor = Float(floor)
        self.topicFloor = Float(topicFloor)
    }

    public var identity: String { "meaning \(embedder.model) floor \(floor) topics \(topics) above \(topicFloor)" }

    /// The two rankings, each best first and at most `limit` long.
    public struct Rankings: Sendable {
        public let direct: [Passage]
        public let topical: [Passage]
    }

    /// The chosen verses' texts and every note of the user with a vector of the model, in one round trip.
    static let sql = """
        SELECT 'scripture' AS kind, NULL::bigint AS note_id, v.ref, v.ref AS title, v.text AS body, NULL::bytea AS vector
        FROM scripture_verses v WHERE v.ref = ANY($3::text[])
        UNION ALL
        SELECT 'note', n.id, NULL, n.title, n.body, nv.vector
        FROM notes n JOIN note_vectors nv ON nv.note_id = n.id AND nv.model = $2
        WHERE n.user_id = $1
        """

    /// Both rankings fused by their ranks (``HybridSearch/fused(_:limit:)``).
    public func search(_ query: String, userID: Int, limit: Int) async throws -> [Passage] {
        let rankings = try await rank(query, userID: userID, limit: limit)
        return HybridSearch.fused([(rankings.direct, 1), (rankings.topical, 1)], limit: limit)
    }

    /// - Throws: ``EmbeddingError`` when the question cannot be embedded (an
    ///   external endpoint down), ``LibraryIndexError`` when no index of the
    ///   embedder's model is loaded, or a ``PostgresError``.
    public func rank(_ query: String, userID: Int, limit: Int) async throws -> Rankings {
        let index = try library.current(model: embedder.model)
        let question = try await embedder.embed(query)
        let verses = index.verses.nearest(to: question, limit: limit, floor: floor)
        let topics = index.topics.nearest(to: question, limit: topics, floor: topicFloor)
        let topicVerses = topics.isEmpty ? [] : try await PassageVectors(pool: pool).topicVerses(topics.map(\.id))
        let topical = topicVerses.compactMap { ref in index.verses.similarity(of: ref, to: question).map { (id: ref, similarity: $0) } }
            .sorted { ($0.similarity, $1.id) > ($1.similarity, $0.id) }.prefix(limit)
        let rows = try await pool.query(Self.sql, [userID, embedder.model, Self.arrayLiteral(verses.map(\.id) + topical.map(\.id))]).rows
        var texts: [String: String] = [:]
        var notes: [Passage] = []
        for row in rows {
            let text: String = try row.decode(required: "body")
            guard let bytes = try row.decode("vector", as: PostgresBytes.self)?.bytes else {
                texts[try row.decode(required: "ref")] = text
                continue
            }
            guard let vector = QuantizedVector(bytes: bytes, dimensions: question.count) else { continue }
            let score = vector.cosine(with: question)
            guard score >= floor else { continue }
            notes.append(Passage(
                kind: .note, noteID: try row.decode("note_id"), ref: nil, title: try row.decode(required: "title"), text: text,
                snippet: Self.snippet(text), score: Double(score)))
        }
        func scripture(_ ranked: some Sequence<(id: String, similarity: Float)>) -> [Passage] {
            ranked.compactMap { ref, similarity in
                texts[ref].map { Passage(kind: .scripture, noteID: nil, ref: ref, title: ref, text: $0, snippet: Self.snippet($0), score: Double(similarity)) }
            }
        }
        let direct = (scripture(verses) + notes).sorted { ($0.score, $1.title) > ($1.score, $0.title) }
        return Rankings(direct: Array(direct.prefix(limit)), topical: scripture(topical))
    }

    /// The text's first 35 words: a passage found by meaning may share no word with the question to highlight.
    static func snippet(_ text: String) -> String {
        let words = text.split(whereSeparator: \.isWhitespace)
        return words.prefix(35).joined(separator: " ") + (words.count > 35 ? " …" : "")
    }

    /// A PostgreSQL text[] literal: `{"a","b"}` with quotes and backslashes escaped.
    static func arrayLiteral(_ values: [String]) -> String {
        "{" + values.map { "\"" + $0.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") + "\"" }.joined(separator: ",") + "}"
    }
}

/// Why retrieval by meaning cannot run now.
public struct LibraryIndexError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

/// The library's vectors as one worker holds them — the verses' and the
/// topical index's — loaded once at start (and again by
/// ``load(from:model:)``), read by every search.
///
/// Thread-safe: the indexes are swapped whole under a `Mutex`.
public final class LibraryIndex: Sendable {
    struct Indexes {
        let verses: VectorIndex
        let topics: VectorIndex
    }

    let indexes = Mutex<Indexes?>(nil)
    let loaded = Atomic<Bool>(false)

    public init() {}

    /// Whether a load has finished (or failed): an empty index after one means there are no vectors.
    public var attempted: Bool { loaded.load(ordering: .relaxed) }

    /// How many verses' vectors are loaded (0 before the first load).
    public var count: Int { indexes.withLock { $0?.verses.count ?? 0 } }

    /// How many topics' vectors are loaded.
    public var topicCount: Int { indexes.withLock { $0?.topics.count ?? 0 } }

    /// Reads the library's vectors of `model` from the database. With a
    /// `sharedDirectory`, each collection is a file there that every worker
    /// maps (built by the first, named by the vectors' digest; older ones removed):
    /// an added worker does not hold the library again.
    public func load(from vectors: PassageVectors, model: String, sharedDirectory: String? = nil) async throws {
        defer { loaded.store(true, ordering: .relaxed) }
        func index(_ collection: PassageVectors.Collection) async throws -> VectorIndex {
            guard let sharedDirectory else { return try await vectors.index(of: collection, model: model) }
            let family = "\(collection)-"
            let path = "\(sharedDirectory)/\(family)\(try await vectors.digest(of: collection, model: model)).index"
            let index = try await VectorIndex.shared(at: path, model: model) { try await vectors.index(of: collection, model: model) }
            for stale in (try? FileManager.default.contentsOfDirectory(atPath: sharedDirectory)) ?? []
            where stale.hasPrefix(family) && !path.hasSuffix("/" + stale) && !(path + ".lock").hasSuffix("/" + stale) {
                try? FileManager.default.removeItem(atPath: sharedDirectory + "/" + stale)
            }
            return index
        }
        let verses = try await index(.verses)
        let topics = try await index(.topics)
        indexes.withLock { $0 = Indexes(verses: verses, topics: topics) }
    }

    /// The loaded verses nearest to `query` (see ``VectorIndex/nearest(to:limit:floor:)``); none before a load.
    public func nearest(to query: [Float], limit: Int, floor: Float) -> [(id: String, similarity: Float)] {
        indexes.withLock { $0 }?.verses.nearest(to: query, limit: limit, floor: floor) ?? []
    }

    func current(model: String) throws(LibraryIndexError) -> Indexes {
        guard let loaded = indexes.withLock({ $0 }), loaded.verses.model == model, loaded.verses.count > 0 else {
            throw LibraryIndexError(description: "no library vectors of \(model) are loaded: run `library import` (or `library embed`), then reload")
        }
        return loaded
    }
}
