import Hummingbird
import Limits
import Store

/// The user's own notes: CRUD and a cursor-paginated list. Another user's
/// note answers 404, exactly as a missing one does.
struct NoteRoutes {
    struct NoteBody: Encodable {
        let id: Int
        let title: String
        let body: String
        let preached_on: String?
        let speaker: String?
        let created_at: String
        let updated_at: String

        init(_ note: Note) {
            id = note.id
            title = note.title
            body = note.body
            preached_on = note.preachedOn
            speaker = note.speaker
            created_at = note.createdAt
            updated_at = note.updatedAt
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(title, forKey: .title)
            try container.encode(body, forKey: .body)
            try container.encode(preached_on, forKey: .preached_on)
            try container.encode(speaker, forKey: .speaker)
            try container.encode(created_at, forKey: .created_at)
            try container.encode(updated_at, forKey: .updated_at)
        }

        enum CodingKeys: CodingKey { case id, title, body, preached_on, speaker, created_at, updated_at }
    }

    struct PageBody: Encodable {
        let notes: [NoteBody]
        let next_cursor: String?

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(notes, forKey: .notes)
            try container.encode(next_cursor, forKey: .next_cursor)
        }

        enum CodingKeys: CodingKey { case notes, next_cursor }
    }

    static let pageSizes = 1...100

    let notes: NoteStore
    /// Told after each committed change, so that no answer built on the old notes is served.
    let cache: AnswerCache?

    func add(to router: some RouterMethods<AppRequestContext>) {
        router.get("/api/v1/notes") { request, context in try await list(request, context) }
        router.post("/api/v1/notes") { request, context in
            let draft = try await decodeJSON(NoteDraft.self, from: request, context: context)
            let userID = try context.requireUserID()
            let note = try await notes.create(draft, userID: userID)
            await cache?.invalidateNotes(userID: userID)
            return try jsonResponse(NoteBody(note), status: .created)
        }
        router.get("/api/v1/notes/:id") { _, context in
            guard let note = try await notes.note(id: try noteID(context), userID: try context.requireUserID()) else { throw notFound }
            return try jsonResponse(NoteBody(note))
        }
        router.put("/api/v1/notes/:id") { request, context in
            let draft = try await decodeJSON(NoteDraft.self, from: request, context: context)
            let userID = try context.requireUserID()
            guard let note = try await notes.update(id: try noteID(context), with: draft, userID: userID) else { throw notFound }
            await cache?.invalidateNotes(userID: userID)
            return try jsonResponse(NoteBody(note))
        }
        router.delete("/api/v1/notes/:id") { _, context in
            let userID = try context.requireUserID()
            guard try await notes.delete(id: try noteID(context), userID: userID) else { throw notFound }
            await cache?.invalidateNotes(userID: userID)
            return Response(status: .noContent)
        }
    }

    private var notFound: APIError { APIError(.notFound, "Note not found") }

    private func noteID(_ context: AppRequestContext) throws -> Int {
        guard let id = context.parameters.get("id").flatMap({ Int($0) }), id > 0 else { throw notFound }
        return id
    }

    private func list(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let query = request.uri.queryParameters
        let limit = try query.get("limit").map { text in
            guard let limit = Int(text), Self.pageSizes.contains(limit) else {
                throw APIError(.unprocessableContent, "limit must be an integer in \(Self.pageSizes.lowerBound)...\(Self.pageSizes.upperBound)")
            }
            return limit
        } ?? 20
        let cursor = try query.get("cursor").map { text in
            guard let cursor = Int(text), cursor >= 0 else { throw APIError(.unprocessableContent, "cursor is not one this server returned") }
            return cursor
        }
        let page = try await notes.list(userID: try context.requireUserID(), limit: limit, after: cursor)
        return try jsonResponse(PageBody(notes: page.notes.map(NoteBody.init), next_cursor: page.nextCursor.map(String.init)))
    }
}
