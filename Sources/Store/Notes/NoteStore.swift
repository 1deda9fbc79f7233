import Embeddings
import PostgresClient

/// Each user's sermon notes. With an embedder, a note is given its vector
/// (title and body) before a write is acknowledged, so retrieval by meaning
/// finds it from the next request on; if embedding fails the note is still
/// written, findable by words, and `embedMissingNotes` catches it up.
public struct NoteStore: Sendable {
    static let batchSize = 200
    let pool: PostgresConnectionPool
    let embedder: (any SentenceEmbedder)?

    public init(pool: PostgresConnectionPool, embedder: (any SentenceEmbedder)? = nil) {
        self.pool = pool
        self.embedder = embedder
    }

    /// Imports a JSONL file of notes for `userID` in one transaction.
    /// A note whose title and body the user already has is not added again,
    /// so re-importing a file adds nothing. Bumps the user's notes version
    /// when anything was added.
    public func importNotes(from path: String, userID: Int, mode: ImportMode = .allOrNothing) async throws -> ImportSummary {
        let importer = JSONLinesImporter<NoteDraft>(batchSize: Self.batchSize) { connection, notes in
            try Self.insert(notes, userID: userID, on: connection)
        }
        let summary = try await pool.withConnection(timeout: .seconds(30)) { try importer.run(path: path, mode: mode, on: $0) }
        _ = try await embedMissingNotes(userID: userID)
        return summary
    }

    /// Gives `userID`'s notes (every user's when nil) that lack a vector of the embedder's model one.
    /// - Returns: the notes embedded (0 without an embedder).
    public func embedMissingNotes(userID: Int?) async throws -> Int {
        guard let embedder else { return 0 }
        let rows = try await pool.query(
            """
            SELECT n.id, n.title, n.body FROM notes n
            WHERE ($1::bigint IS NULL OR n.user_id = $1)
              AND NOT EXISTS (SELECT 1 FROM note_vectors v WHERE v.note_id = n.id AND v.model = $2)
            ORDER BY n.id
            """,
            [userID, embedder.model], timeout: .seconds(60)
        ).rows
        for batch in stride(from: 0, to: rows.count, by: Self.batchSize).map({ rows[$0..<min($0 + Self.batchSize, rows.count)] }) {
            let notes = try batch.map { row in (id: try row.decode(required: "id", as: Int.self), text: Self.embeddedText(title: try row.decode(required: "title"), body: try row.decode(required: "body"))) }
            try await storeVectors(of: notes, with: embedder)
        }
        return rows.count
    }

    /// What a note's vector embeds.
    static func embeddedText(title: String, body: String) -> String { title + "\n" + body }

    private func storeVectors(of notes: [(id: Int, text: String)], with embedder: any SentenceEmbedder) async throws {
        guard !notes.isEmpty else { return }
        let vectors = try await embedder.embed(notes.map(\.text))
        let values = valuesPlaceholders(rows: notes.count, width: 2, firstParameter: 2, casts: ["::bigint", "::bytea"])
        let parameters: [any PostgresBindable] = [embedder.model] + zip(notes, vectors).flatMap { note, vector in
            [note.id, PostgresBytes(QuantizedVector(vector).bytes)] as [any PostgresBindable]
        }
        _ = try await pool.query(
            """
            INSERT INTO note_vectors (note_id, model, vector) SELECT v.note_id, $1, v.vector FROM (VALUES \(values)) AS v (note_id, vector)
            WHERE EXISTS (SELECT 1 FROM notes n WHERE n.id = v.note_id)
            ON CONFLICT (note_id, model) DO UPDATE SET vector = EXCLUDED.vector
            """,
            parameters)
    }

    /// Embeds one note just written; a failure leaves it to be caught up, never fails the write.
    private func embed(_ note: Note) async -> Note {
        guard let embedder else { return note }
        try? await storeVectors(of: [(note.id, Self.embeddedText(title: note.title, body: note.body))], with: embedder)
        return note
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
        return await embed(try await changingNotes(of: userID) { connection in
            try connection.query(
                "INSERT INTO notes (user_id, title, body, preached_on, speaker) VALUES ($1, $2, $3, $4::date, $5) RETURNING \(Self.columns)",
                [userID, draft.title, draft.body, draft.preachedOn, draft.speaker]
            ).rows.first
        }!)
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
        guard let note = try await changingNotes(of: userID, { connection in
            try connection.query(
                """
                UPDATE notes SET title = $3, body = $4, preached_on = $5::date, speaker = $6, updated_at = now()
                WHERE id = $1 AND user_id = $2 RETURNING \(Self.columns)
                """,
                [id, userID, draft.title, draft.body, draft.preachedOn, draft.speaker]
            ).rows.first
        }) else { return nil }
        return await embed(note)
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
