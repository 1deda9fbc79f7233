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

    static let columns = """
        id, title, body, preached_on::text AS preached_on, speaker,
        to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at,
        to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS updated_at
        """

    /// Adds a note for `userID` and bumps the user's notes version.
    /// - Throws: ``StoreError`` `.invalidInput` when the draft breaks a rule.
    public func create(_ draft: NoteDraft, userID: Int) async throws -> Note {
        try Self.validate(draft)
        return try await changingNotes(of: userID) { connection in
            try connection.query(
                "INSERT INTO notes (user_id, title, body, preached_on, speaker) VALUES ($1, $2, $3, $4::date, $5) RETURNING \(Self.columns)",
                [userID, draft.title, draft.body, draft.preachedOn, draft.speaker]
            ).rows.first
        }!
    }

    /// The note `id` if `userID` owns it; another user's note is nil, as a missing one is.
    public func note(id: Int, userID: Int) async throws -> Note? {
        try await pool.query("SELECT \(Self.columns) FROM notes WHERE id = $1 AND user_id = $2", [id, userID]).rows.first.map(Self.note)
    }

    /// Up to `limit` notes after `cursor`, oldest first.
    public func list(userID: Int, limit: Int, after cursor: Int?) async throws -> NotePage {
        let rows = try await pool.query(
            "SELECT \(Self.columns) FROM notes WHERE user_id = $1 AND id > $2 ORDER BY id LIMIT $3",
            [userID, cursor ?? 0, limit + 1]
        ).rows
        let notes = try rows.prefix(limit).map(Self.note)
        return NotePage(notes: notes, nextCursor: rows.count > limit ? notes.last?.id : nil)
    }

    /// Replaces the note's fields; nil when `userID` has no note `id`.
    public func update(id: Int, with draft: NoteDraft, userID: Int) async throws -> Note? {
        try Self.validate(draft)
        return try await changingNotes(of: userID) { connection in
            try connection.query(
                """
                UPDATE notes SET title = $3, body = $4, preached_on = $5::date, speaker = $6, updated_at = now()
                WHERE id = $1 AND user_id = $2 RETURNING \(Self.columns)
                """,
                [id, userID, draft.title, draft.body, draft.preachedOn, draft.speaker]
            ).rows.first
        }
    }

    /// Deletes the note; false when `userID` has no note `id`.
    public func delete(id: Int, userID: Int) async throws -> Bool {
        try await changingNotes(of: userID) { connection in
            try connection.query("DELETE FROM notes WHERE id = $1 AND user_id = $2 RETURNING \(Self.columns)", [id, userID]).rows.first
        } != nil
    }

    /// Runs `change` in a transaction and bumps the notes version when it returned a row.
    private func changingNotes(of userID: Int, _ change: @escaping @Sendable (PostgresConnection) throws -> PostgresRow?) async throws -> Note? {
        try await pool.withConnection { connection in
            try connection.transaction {
                guard let row = try change(connection) else { return nil }
                try connection.query("UPDATE users SET notes_version = notes_version + 1 WHERE id = $1", [userID])
                return try Self.note(row)
            }
        }
    }

    private static func validate(_ draft: NoteDraft) throws(StoreError) {
        if let problem = draft.problem() { throw StoreError(code: .invalidInput, message: problem) }
    }

    private static func note(_ row: PostgresRow) throws -> Note {
        Note(
            id: try row.decode(required: "id"), title: try row.decode(required: "title"), body: try row.decode(required: "body"),
            preachedOn: try row.decode("preached_on"), speaker: try row.decode("speaker"),
            createdAt: try row.decode(required: "created_at"), updatedAt: try row.decode(required: "updated_at"))
    }

    private static func insert(_ batch: [NoteDraft], userID: Int, on connection: PostgresConnection) throws -> Int {
        // A note repeated within the batch is added once; file order is kept (ids follow it).
        var seen = Set<[String]>()
        let notes = batch.filter { seen.insert([$0.title, $0.body]).inserted }
        let values = valuesPlaceholders(rows: notes.count, width: 4, firstParameter: 2, casts: ["::text", "::text", "::date", "::text"])
        let parameters: [any PostgresBindable] = [userID] + notes.flatMap {
            [$0.title, $0.body, $0.preachedOn, $0.speaker] as [any PostgresBindable]
        }
        let added = try connection.query(
            """
            INSERT INTO notes (user_id, title, body, preached_on, speaker)
            SELECT $1::bigint, v.title, v.body, v.preached_on, v.speaker
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
