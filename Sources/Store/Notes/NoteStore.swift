import PostgresClient

/// Each user's sermon notes.
public struct NoteStore: Sendable {
    static let batchSize = 200
    let pool: PostgresConnectionPool

    public init(pool: PostgresConnectionPool) {
        self.pool = pool
    }

    /// Imports a JSONL file of notes for `userID` in one transaction.
    /// A note whose title and body the user already has is not added again,
    /// so re-importing a file adds nothing. Bumps the user's notes version
    /// when anything was added.
    public func importNotes(from path: String, userID: Int, mode: ImportMode = .allOrNothing) async throws -> ImportSummary {
        let importer = JSONLinesImporter<NoteDraft>(batchSize: Self.batchSize) { connection, notes in
            try Self.insert(notes, userID: userID, on: connection)
        }
        return try await pool.withConnection(timeout: .seconds(30)) { try importer.run(path: path, mode: mode, on: $0) }
    }

    /// The number of notes `userID` has.
    public func noteCount(userID: Int) async throws -> Int {
        try await pool.query("SELECT count(*) AS n FROM notes WHERE user_id = $1", [userID]).rows[0].decode(required: "n")
    }

    private static func insert(_ notes: [NoteDraft], userID: Int, on connection: PostgresConnection) throws -> Int {
        let values = valuesPlaceholders(rows: notes.count, width: 4, firstParameter: 2, casts: ["::text", "::text", "::date", "::text"])
        let parameters: [any PostgresBindable] = [userID] + notes.flatMap {
            [$0.title, $0.body, $0.preachedOn, $0.speaker] as [any PostgresBindable]
        }
        let added = try connection.query(
            """
            INSERT INTO notes (user_id, title, body, preached_on, speaker)
            SELECT DISTINCT ON (v.title, v.body) $1::bigint, v.title, v.body, v.preached_on, v.speaker
            FROM (VALUES \(values)) AS v (title, body, preached_on, speaker)
            WHERE NOT EXISTS (SELECT 1 FROM notes n WHERE n.user_id = $1 AND n.title = v.title AND n.body = v.body)
            """,
            parameters
        ).affectedRows
        if added > 0 {
            try connection.query("UPDATE users SET notes_version = notes_version + 1 WHERE id = $1", [userID])
        }
        return added
    }
}
