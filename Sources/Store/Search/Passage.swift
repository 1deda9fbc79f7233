/// A retrieved piece of text: one of the user's notes or a scripture verse.
public struct Passage: Sendable, Equatable {
    public enum Kind: String, Sendable, Codable {
        case note
        case scripture
    }

    public let kind: Kind
    /// The note's id (notes only).
    public let noteID: Int?
    /// The verse's citation, e.g. "Ephesians 2:8" (scripture only).
    public let ref: String?
    /// The note's title or the verse's citation.
    public let title: String
    /// The whole text, for the prompt.
    public let text: String
    /// The best-matching fragment, matched words in `**bold**`.
    public let snippet: String
    /// PostgreSQL's ts_rank_cd, plus 1 for passages with every term; higher is better.
    public let score: Double
}
