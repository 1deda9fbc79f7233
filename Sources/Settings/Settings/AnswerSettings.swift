/// Retrieval, prompt size and the answer cache.
public struct AnswerSettings: Sendable, Equatable {
    public var cacheEnabled: Bool
    public var cacheTTLSeconds: Int
    /// Answers whose entry is larger are served but not stored.
    public var cacheMaxEntryBytes: Int
    /// Passages retrieved per query.
    public var retrievalTopK: Int
    /// Upper bound on the passages' tokens in the prompt.
    public var contextMaxTokens: Int
    /// Longest accepted query, in characters, after trimming.
    public var queryMaxCharacters: Int

    public init(reading reader: ConfigurationReader) throws(ConfigurationError) {
        cacheEnabled = try reader.bool("CACHE_ENABLED", default: true)
        cacheTTLSeconds = try reader.int("CACHE_TTL_SECONDS", default: 3600, in: 1...2_592_000)
        cacheMaxEntryBytes = try reader.int("CACHE_MAX_ENTRY_BYTES", default: 65536, in: 1024...16_777_216)
        retrievalTopK = try reader.int("RETRIEVAL_TOP_K", default: 5, in: 1...50)
        contextMaxTokens = try reader.int("CONTEXT_MAX_TOKENS", default: 1500, in: 50...100_000)
        queryMaxCharacters = try reader.int("QUERY_MAX_CHARS", default: 2000, in: 1...100_000)
    }
}
