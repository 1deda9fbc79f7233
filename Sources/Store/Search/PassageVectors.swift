import Embeddings
import PostgresClient

/// The vectors that retrieval by meaning scans, one per verse and one per
/// note for each model (tables `scripture_vectors`, `note_vectors`), and one
/// per subject of the topical index (`topic_vectors`). A verse's vector
/// embeds the verse alone: with its neighbours it found fewer answers on the
/// evaluation sets (docs/retrieval.md).
public struct PassageVectors: Sendable {
    let pool: PostgresConnectionPool

    public init(pool: PostgresConnectionPool) {
        self.pool = pool
    }

    /// What progress a long embedding run reports: verses done of the total.
    public typealias Progress = @Sendable (_ done: Int, _ total: Int) -> Void

    /// What has vectors: the verses (each embedded with its neighbours) or the topical index's subjects (their labels).
    public enum Collection: Sendable {
        case verses, topics

        /// Each item's key and embedded text, and whether it has a vector of `$1`.
        var passagesSQL: String {
            switch self {
            case .verses: PassageVectors.passagesSQL
            case .topics:
                "SELECT t.label AS ref, t.label AS passage, EXISTS (SELECT 1 FROM topic_vectors s WHERE s.model = $1 AND s.label = t.label) AS embedded FROM library_topics t ORDER BY t.label"
            }
        }

        var table: (name: String, key: String) {
            switch self {
            case .verses: ("scripture_vectors", "ref")
            case .topics: ("topic_vectors", "label")
            }
        }
    }

    /// Every verse's embedded text (the verse itself), and whether it has a vector of `$1`.
    static let passagesSQL = """
        SELECT v.ref, v.text AS passage, EXISTS (SELECT 1 FROM scripture_vectors s WHERE s.model = $1 AND s.ref = v.ref) AS embedded
        FROM scripture_verses v
        ORDER BY v.ref
        """

    /// Gives every verse without a vector of `embedder.model` one, taking it
    /// from `precomputed` when that holds the same text of the same model,
    /// else from the embedder, in batches (each committed as it is done, so an
    /// interrupted run resumes where it stopped).
    /// - Returns: the vectors computed and those taken from `precomputed`.
    public func embedLibrary(
        with embedder: any SentenceEmbedder, precomputed: VectorFile?, collection: Collection = .verses, batchSize: Int = 256, parallelism: Int = 2,
        progress: Progress? = nil
    ) async throws -> (computed: Int, reused: Int) {
        let model = embedder.model
        let rows = try await pool.query(collection.passagesSQL, [model], timeout: .seconds(120)).rows
        let missing: [(ref: String, passage: String)] = try rows.compactMap { row in
            try row.decode(required: "embedded", as: Bool.self) ? nil : (try row.decode(required: "ref"), try row.decode(required: "passage"))
        }
        let shipped = precomputed?.model == model ? precomputed : nil
        let batches = stride(from: 0, to: missing.count, by: batchSize).map { missing[$0..<min($0 + batchSize, missing.count)] }
        // `parallelism` batches at once: the local model runs each on a thread of the pool, one core each.
        return try await withThrowingTaskGroup(of: (computed: Int, stored: Int).self) { group in
            var (computed, done, next) = (0, 0, 0)
            func add() {
                guard next < batches.count else { return }
                let batch = batches[next]
                next += 1
                group.addTask { try await embedAndStore(batch, shipped: shipped, with: embedder, into: collection) }
            }
            for _ in 0..<parallelism { add() }
            while let finished = try await group.next() {
                computed += finished.computed
                done += finished.stored
                progress?(done, missing.count)
                add()
            }
            return (computed, missing.count - computed)
        }
    }

    /// One batch: vectors from `shipped` where it has the text, else from the embedder; then stored.
    private func embedAndStore(
        _ batch: ArraySlice<(ref: String, passage: String)>, shipped: VectorFile?, with embedder: any SentenceEmbedder, into collection: Collection
    ) async throws -> (computed: Int, stored: Int) {
        var vectors = batch.map { shipped?[$0.passage] }
        let unknown = vectors.indices.filter { vectors[$0] == nil }
        if !unknown.isEmpty {
            let passages = Array(batch.map(\.passage))
            let fresh = try await embedder.embed(unknown.map { passages[$0] })
            for (index, vector) in zip(unknown, fresh) { vectors[index] = QuantizedVector(vector) }
        }
        try await store(zip(batch.map(\.ref), vectors.compactMap { $0 }), model: embedder.model, into: collection)
        return (unknown.count, batch.count)
    }

    private func store(_ vectors: some Sequence<(String, QuantizedVector)>, model: String, into collection: Collection) async throws {
        let rows = Array(vectors)
        let values = valuesPlaceholders(rows: rows.count, width: 2, firstParameter: 2, casts: ["", "::bytea"])
        let parameters: [any PostgresBindable] = [model] + rows.flatMap { [$0.0, PostgresBytes($0.1.bytes)] as [any PostgresBindable] }
        let (table, key) = collection.table
        _ = try await pool.query(
            "INSERT INTO \(table) (model, \(key), vector) SELECT $1, v.key, v.vector FROM (VALUES \(values)) AS v (key, vector) ON CONFLICT DO NOTHING",
            parameters, timeout: .seconds(60))
    }

    /// The vectors of `model` of a collection, for a worker to scan (one query; ~12 MB for the KJV's verses).
    public func index(of collection: Collection = .verses, model: String) async throws -> VectorIndex {
        let (table, key) = collection.table
        var dimensions = 0
        var entries: [(id: String, vector: QuantizedVector)] = []
        // In pages of 2,048 rows: the whole KJV in one result (24 MB of hex text, then its copies) left a worker's heap ~150 MB larger.
        while true {
            let rows = try await pool.query(
                "SELECT \(key) AS ref, vector FROM \(table) WHERE model = $1 AND \(key) > $2 ORDER BY \(key) LIMIT 2048", [model, entries.last?.id ?? ""],
                timeout: .seconds(60)
            ).rows
            for row in rows {
                let bytes = try row.decode(required: "vector", as: PostgresBytes.self).bytes
                if dimensions == 0 { dimensions = bytes.count - 4 }
                guard let vector = QuantizedVector(bytes: bytes, dimensions: dimensions) else { continue }
                entries.append((try row.decode(required: "ref"), vector))
            }
            if rows.count < 2048 { break }
        }
        return VectorIndex(model: model, dimensions: dimensions, rows: entries)
    }

    /// A digest of a collection's vectors of `model` (their keys and bytes, and the
    /// model): what names the file that workers share (``LibraryIndex``); it
    /// changes whenever a vector is added, changed or removed.
    public func digest(of collection: Collection, model: String) async throws -> String {
        let (table, key) = collection.table
        let row = try await pool.query(
            "SELECT count(*) AS rows, md5($1 || string_agg(\(key) || ':' || md5(vector), ',' ORDER BY \(key))) AS digest FROM \(table) WHERE model = $1",
            [model], timeout: .seconds(60)
        ).rows.first
        let rows: Int = try row?.decode(required: "rows") ?? 0
        return "\(rows)-" + ((try row?.decode("digest", as: String.self)) ?? "empty")
    }

    /// A collection's vectors of `model` keyed by their texts: what `library export-vectors` writes for the package.
    public func export(_ collection: Collection = .verses, model: String) async throws -> VectorFile? {
        let (table, key) = collection.table
        let passages = try await pool.query(collection.passagesSQL, [model], timeout: .seconds(120)).rows
        let vectors = try await pool.query("SELECT \(key) AS ref, vector FROM \(table) WHERE model = $1", [model], timeout: .seconds(120)).rows
        var byRef: [String: [UInt8]] = [:]
        for row in vectors { byRef[try row.decode(required: "ref")] = try row.decode(required: "vector", as: PostgresBytes.self).bytes }
        guard let dimensions = byRef.first?.value.count.advanced(by: -4) else { return nil }
        var file = VectorFile(model: model, dimensions: dimensions)
        for row in passages {
            guard let bytes = byRef[try row.decode(required: "ref")] else { continue }
            file[try row.decode(required: "passage")] = QuantizedVector(bytes: bytes, dimensions: dimensions)
        }
        return file
    }

    /// The verses of the topics `labels`, each once.
    public func topicVerses(_ labels: [String]) async throws -> [String] {
        let rows = try await pool.query(
            "SELECT DISTINCT unnest(refs) AS ref FROM library_topics WHERE label = ANY($1::text[])", [MeaningSearch.arrayLiteral(labels)]).rows
        return try rows.map { try $0.decode(required: "ref") }
    }
}
