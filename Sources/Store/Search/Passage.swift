/// A retrieved piece of text: one of the user's notes or a scripture verse.
public struct Passage: Sendable, Equatable {
    public init(kind: Kind, noteID: Int?, ref: String?, title: String, text: String, snippet: String, score: Double) {
        self.kind = kind
        self.noteID = noteID
        self.ref = ref
        self.title = title
        self.text = text
        self.snippet = snippet
        self.score = score
    }

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
    /// Higher is better, comparable only within one result: the BM25 weight of
    /// the terms held (words), the cosine similarity (meaning), or the
    /// reciprocal-rank fusion of both (docs/retrieval.md).
    public let score: Double
}
