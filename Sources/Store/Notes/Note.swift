/// A stored sermon note, as its owner sees it.
public struct Note: Sendable, Equatable {
    public let id: Int
    public let title: String
    public let body: String
    public let preachedOn: String?
    public let speaker: String?
    /// ISO 8601 UTC timestamps.
    public let createdAt: String
    public let updatedAt: String
}

/// One page of a user's notes, oldest first.
public struct NotePage: Sendable, Equatable {
    public let notes: [Note]
    /// Pass back to get the next page; nil on the last page.
    public let nextCursor: Int?
}
