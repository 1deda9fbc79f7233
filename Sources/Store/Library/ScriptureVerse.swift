/// One verse of the shared scripture library, as imported from JSONL
/// (`{"ref","book","chapter","verse","text"}`).
public struct ScriptureVerse: Sendable, Equatable, Decodable {
    /// The citation, e.g. "Ephesians 2:8"; unique in the library.
    public let ref: String
    public let book: String
    public let chapter: Int
    public let verse: Int
    public let text: String
}

extension ScriptureVerse: ImportRecord {
    package func problem() -> String? {
        if ref.trimmingCharacters().isEmpty { return "'ref' is empty" }
        if book.trimmingCharacters().isEmpty { return "'book' is empty" }
        if chapter < 1 { return "'chapter' must be at least 1" }
        if verse < 1 { return "'verse' must be at least 1" }
        if text.trimmingCharacters().isEmpty { return "'text' is empty" }
        return nil
    }
}
