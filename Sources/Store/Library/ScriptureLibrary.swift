import PostgresClient

/// The scripture library shared by every user.
public struct ScriptureLibrary: Sendable {
    static let batchSize = 1000
    let pool: PostgresConnectionPool

    public init(pool: PostgresConnectionPool) {
        self.pool = pool
    }

    /// Imports a JSONL file of verses in one transaction, in batches.
    /// Verses whose `ref` is already present are left as they are, so a
    /// second import of the same file adds nothing.
    public func importVerses(from path: String, mode: ImportMode = .allOrNothing) async throws -> ImportSummary {
        let importer = JSONLinesImporter<ScriptureVerse>(batchSize: Self.batchSize) { connection, verses in
            try Self.insert(verses, on: connection)
        }
        let summary = try await pool.withConnection(timeout: .seconds(30)) { try importer.run(path: path, mode: mode, on: $0) }
        // The rarity weights follow the library (a few hundred ms for the KJV).
        _ = try await pool.query("SELECT refresh_search_statistics()", timeout: .seconds(60))
        return summary
    }

    /// Imports a topical index (JSONL of ``LibraryTopic``) in one transaction;
    /// a label already present keeps its verses.
    public func importTopics(from path: String, mode: ImportMode = .allOrNothing) async throws -> ImportSummary {
        let importer = JSONLinesImporter<LibraryTopic>(batchSize: Self.batchSize) { connection, topics in
            let values = valuesPlaceholders(rows: topics.count, width: 2, casts: ["", "::text[]"])
            let parameters: [any PostgresBindable] = topics.flatMap { [$0.label, MeaningSearch.arrayLiteral($0.refs)] as [any PostgresBindable] }
            return try connection.query("INSERT INTO library_topics (label, refs) VALUES \(values) ON CONFLICT (label) DO NOTHING", parameters).affectedRows
        }
        return try await pool.withConnection(timeout: .seconds(30)) { try importer.run(path: path, mode: mode, on: $0) }
    }

    /// The number of verses in the library.
    public func verseCount() async throws -> Int {
        try await pool.query("SELECT count(*) AS n FROM scripture_verses").rows[0].decode(required: "n")
    }

    private static func insert(_ verses: [ScriptureVerse], on connection: PostgresConnection) throws -> Int {
        let values = valuesPlaceholders(rows: verses.count, width: 5, casts: ["", "", "::integer", "::integer", ""])
        let parameters: [any PostgresBindable] = verses.flatMap { [$0.ref, $0.book, $0.chapter, $0.verse, $0.text] as [any PostgresBindable] }
        return try connection.query(
            "INSERT INTO scripture_verses (ref, book, chapter, verse, text) VALUES \(values) ON CONFLICT (ref) DO NOTHING",
            parameters
        ).affectedRows
    }
}
