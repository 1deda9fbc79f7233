/// A subject of a topical index and the verses it lists, as imported from
/// JSONL (`{"label","refs"}`: scripts/build-topics writes Nave's Topical Bible so).
public struct LibraryTopic: Sendable, Equatable, Decodable {
    /// The subject as the index names it, e.g. "TRIBUTE (TAXES): From conquered nations"; unique.
    public let label: String
    /// The verses' citations, e.g. "Matthew 22:17".
    public let refs: [String]
}

extension LibraryTopic: ImportRecord {
    package func problem() -> String? {
        if label.trimmingCharacters().isEmpty { return "'label' is empty" }
        if refs.isEmpty { return "'refs' is empty" }
        return nil
    }
}
