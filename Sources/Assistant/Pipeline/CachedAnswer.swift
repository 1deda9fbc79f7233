import FoundationEssentials

/// An answer as the cache keeps it: the answer with its sources and token
/// counts, what it cost when it was computed, and when (Unix seconds).
struct CachedAnswer: Codable, Equatable {
    let answer: AssistantAnswer
    let costUSD: Double
    let createdAt: Int

    init(_ answer: AssistantAnswer, costUSD: Double, createdAt: Int = Int(Date().timeIntervalSince1970)) {
        self.answer = answer
        self.costUSD = costUSD
        self.createdAt = createdAt
    }

    /// nil for an entry this version cannot read (it is then recomputed and replaced).
    init?(decoding entry: String) {
        guard let decoded = try? JSONDecoder().decode(Self.self, from: Data(entry.utf8)) else { return nil }
        self = decoded
    }

    var encoded: String {
        (try? JSONEncoder().encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }
}

/// The request's cache directives (RFC 9111 §5.2.1): `no-cache` skips the
/// stored answer and stores the new one; `no-store` neither reads nor writes.
public struct CacheDirectives: Sendable, Equatable {
    public var noCache = false
    public var noStore = false

    public init(noCache: Bool = false, noStore: Bool = false) {
        self.noCache = noCache
        self.noStore = noStore
    }
}

/// What the answer cache did for a query (the `Cache-Status` field and the lookup metrics).
public enum CacheResult: Sendable, Equatable {
    /// No cache: CACHE_ENABLED=false, or Redis unreachable.
    case bypass
    /// The request's directives: `no-store` (nothing stored) or `no-cache` (stored when `stored`).
    case directed(stored: Bool)
    /// A stored answer, with the whole seconds it has left.
    case hit(ttlSeconds: Int)
    /// The answer of an identical request computed at the same time.
    case coalesced
    /// Computed; stored unless it was too large or Redis failed.
    case miss(stored: Bool)
}
