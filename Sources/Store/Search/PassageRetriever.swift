/// Finds the passages that answer a question among a user's notes and the
/// library: by words (``PassageSearch``), by meaning (``MeaningSearch``) or
/// both fused (``HybridSearch``). Each returns only passages above its own
/// relevance floor, so an empty result is an honest "nothing found".
public protocol PassageRetriever: Sendable {
    /// The best `limit` passages for `query` among `userID`'s notes and the library, best first.
    func search(_ query: String, userID: Int, limit: Int) async throws -> [Passage]
    /// What shapes the ranking (the mode and the model), for the answer cache's key.
    var identity: String { get }
}

extension PassageSearch: PassageRetriever {
    public var identity: String { "words" }
}
