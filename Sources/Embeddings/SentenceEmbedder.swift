/// Turns texts into unit vectors of one model's space. ``model`` names that
/// space: vectors are compared only with vectors of the same ``model``, so an
/// index records it and is ignored when it differs.
public protocol SentenceEmbedder: Sendable {
    /// The vector space, e.g. `all-MiniLM-L6-v2@53aa51172d14` (name and weights' checksum).
    var model: String { get }
    /// One unit vector per text, in order.
    /// - Throws: ``EmbeddingError`` (the external endpoint failed or answered badly).
    func embed(_ texts: [String]) async throws(EmbeddingError) -> [[Float]]
}

extension SentenceEmbedder {
    /// One text's vector.
    public func embed(_ text: String) async throws(EmbeddingError) -> [Float] {
        try await embed([text])[0]
    }
}
