import PostgresClient

/// Full-text retrieval over a user's notes and the scripture library, in one
/// query (docs/retrieval.md).
///
/// The question's english lexemes, less the words that only frame a question
/// (`search_question_words`), are the terms; a term the KJV spells otherwise
/// also matches its other forms (`search_synonyms`). Each term weighs its
/// rarity in the library, BM25's idf: ln(1 + (N − n + 0.5) / (n + 0.5)) with
/// n the verses holding it (`search_terms`, refreshed by every library
/// import). A verse scores the sum of the weights of the terms it holds,
/// scaled by BM25's length norm (k1 = 1.2, b = 0.75; a verse of average
/// length keeps the sum as it is); a note scores the sum itself, so notes rank
/// with the verses. A "What is X?" question adds half the terms' weight to the
/// passages that say "X is" (the definition). Passages under the relevance
/// floor — 40 % of the weight of all the terms — are not returned, so a
/// question nothing answers finds nothing. Candidates come from the GIN indexes
/// (any term matches).
public struct PassageSearch: Sendable {
    let pool: PostgresConnectionPool

    public init(pool: PostgresConnectionPool) {
        self.pool = pool
    }

    /// The share of the terms' whole weight a passage must reach to be returned.
    static let relevanceFloor = 0.4

    static let sql = """
        WITH words AS (
            SELECT DISTINCT lexeme FROM unnest(tsvector_to_array(to_tsvector('english', $1))) AS lexeme
            WHERE lexeme NOT IN (SELECT lexeme FROM search_question_words)
        ),
        terms AS (
            SELECT coalesce(s.query, w.lexeme::tsquery) AS query,
                   ln(1 + (c.documents - coalesce(t.documents, 0) + 0.5) / (coalesce(t.documents, 0) + 0.5)) AS weight
            FROM words w
            CROSS JOIN search_corpus c
            LEFT JOIN search_synonyms s ON s.lexeme = w.lexeme
            LEFT JOIN search_terms t ON t.lexeme = w.lexeme
        ),
        q AS (
            SELECT string_agg('(' || query::text || ')', ' | ')::tsquery AS any, sum(weight) AS mass,
                   (SELECT '%' || m[3] || ' ' || m[1] || '%'
                    FROM regexp_match(lower($1), '^\\s*what\\s+(is|are)\\s+(an?\\s+|the\\s+)?([[:alpha:]]+)\\W*$') AS m) AS definition
            FROM terms
        ),
        candidates AS (
            SELECT 'scripture' AS kind, NULL::bigint AS note_id, v.ref, v.ref AS title, v.text AS body,
                   (SELECT sum(t.weight) FROM terms t WHERE v.search @@ t.query)
                       * 2.2 / (1 + 1.2 * (0.25 + 0.75 * length(v.search) / c.average_length))
                   + CASE WHEN q.definition IS NULL THEN 0 WHEN lower(v.text) LIKE q.definition THEN 0.5 * q.mass ELSE 0 END AS score
            FROM scripture_verses v, q, search_corpus c
            WHERE v.search @@ q.any
            UNION ALL
            SELECT 'note', n.id, NULL, n.title, n.body,
                   (SELECT sum(t.weight) FROM terms t WHERE n.search @@ t.query)
                   + CASE WHEN q.definition IS NULL THEN 0 WHEN lower(n.body) LIKE q.definition THEN 0.5 * q.mass ELSE 0 END
            FROM notes n, q
            WHERE n.user_id = $2 AND n.search @@ q.any
        ),
        top AS (
            SELECT candidates.* FROM candidates, q
            WHERE candidates.score >= \(relevanceFloor) * q.mass
            ORDER BY score DESC, kind, note_id, ref LIMIT $3
        )
        SELECT top.kind, top.note_id, top.ref, top.title, top.body, top.score::float8 AS score,
               ts_headline('english', top.body, q.any, 'StartSel=**, StopSel=**, MaxWords=35, MinWords=12, MaxFragments=2') AS snippet
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
