import PostgresClient

/// Full-text retrieval over a user's notes and the scripture library.
///
/// The question becomes a `websearch_to_tsquery` (English stemming, stop
/// words dropped). Passages containing every term come first, ranked by
/// `ts_rank_cd`; when fewer than `limit` do, the rest is filled with passages
/// containing any of the terms (the same query with AND turned into OR).
/// A passage's score is its `ts_rank_cd`, plus 1 when it has every term, so
/// scores fall monotonically down the list.
/// Both tables have GIN indexes on their tsvector columns.
public struct PassageSearch: Sendable {
    let pool: PostgresConnectionPool

    public init(pool: PostgresConnectionPool) {
        self.pool = pool
    }

    static let sql = """
        WITH q AS (
            SELECT websearch_to_tsquery('english', $1) AS strict,
                   replace(websearch_to_tsquery('english', $1)::text, ' & ', ' | ')::tsquery AS loose
        ),
        candidates AS (
            SELECT 'scripture' AS kind, NULL::bigint AS note_id, v.ref, v.ref AS title, v.text AS body,
                   v.search @@ q.strict AS strict,
                   CASE WHEN v.search @@ q.strict THEN 1 + ts_rank_cd(v.search, q.strict) ELSE ts_rank_cd(v.search, q.loose) END AS score
            FROM scripture_verses v, q
            WHERE v.search @@ q.loose
            UNION ALL
            SELECT 'note', n.id, NULL, n.title, n.body,
                   n.search @@ q.strict,
                   CASE WHEN n.search @@ q.strict THEN 1 + ts_rank_cd(n.search, q.strict) ELSE ts_rank_cd(n.search, q.loose) END
            FROM notes n, q
            WHERE n.user_id = $2 AND n.search @@ q.loose
        ),
        top AS (
            SELECT * FROM candidates ORDER BY score DESC, kind, note_id, ref LIMIT $3
        )
        SELECT top.kind, top.note_id, top.ref, top.title, top.body, top.score::float8 AS score,
               ts_headline('english', top.body, q.loose, 'StartSel=**, StopSel=**, MaxWords=35, MinWords=12, MaxFragments=2') AS snippet
        FROM top, q
        ORDER BY top.score DESC, top.kind, top.note_id, top.ref
        """

    /// The best `limit` passages for `query` among `userID`'s notes and the library.
    public func search(_ query: String, userID: Int, limit: Int) async throws -> [Passage] {
        let result = try await pool.query(Self.sql, [query, userID, limit])
        return try result.rows.map { row in
            Passage(
                kind: try Passage.Kind(rawValue: row.decode(required: "kind")) ?? .scripture,
                noteID: try row.decode("note_id"),
                ref: try row.decode("ref"),
                title: try row.decode(required: "title"),
                text: try row.decode(required: "body"),
                snippet: try row.decode(required: "snippet"),
                score: try row.decode(required: "score"))
        }
    }
}
