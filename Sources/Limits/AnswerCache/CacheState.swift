/// What a query asks of the shared answer cache (RFC 9111 request directives aside,
/// which decide the mode).
public struct CacheRequest: Sendable, Equatable {
    public enum Mode: Int, Sendable {
        /// Serve a stored answer; on a miss, lead the computation or wait for its leader.
        case read = 1
        /// `Cache-Control: no-cache`: skip the stored answer, store the new one.
        case refresh = 2
    }

    public var mode: Mode
    /// Everything but the user and the data versions that makes two questions one
    /// entry (provider, model, prompt version, limits, the normalized question),
    /// hashed with the user id into the entry's digest.
    public var identity: String

    public init(mode: Mode, identity: String) {
        self.mode = mode
        self.identity = identity
    }
}

/// One entry's place in Redis: `cache:answer:{digest}` and its lock `cache:lock:{digest}`.
public struct CacheSlot: Sendable, Equatable {
    public let digest: String
    /// The notes and library versions that the admission read: what an answer stored here is built on.
    public let versions: String
    /// The token that fences the lock; nil when no lock is held (a refresh or a wait).
    public let token: String?

    public init(digest: String, versions: String, token: String?) {
        self.digest = digest
        self.versions = versions
        self.token = token
    }
}

/// What admission found in the answer cache.
public enum CacheState: Sendable, Equatable {
    /// No cache for this query (disabled, `no-store`, or Redis unreachable).
    case bypass
    /// A stored answer (the encoded entry) with the milliseconds it has left.
    case hit(entry: String, ttlMilliseconds: Int)
    /// A miss whose computation this request leads: store or abandon the slot.
    case lead(CacheSlot)
    /// `no-cache`: computed afresh and stored, without the lock.
    case refresh(CacheSlot)
    /// A miss another request is computing: wait for it.
    case wait(CacheSlot)

    /// Whether the request needs a concurrency lease and a reservation (it calls upstream).
    public var computes: Bool {
        switch self {
        case .hit, .wait: false
        case .bypass, .lead, .refresh: true
        }
    }

    /// The answer's place in Redis when this request should store it.
    public var slotToStore: CacheSlot? {
        switch self {
        case .lead(let slot), .refresh(let slot): slot
        case .bypass, .hit, .wait: nil
        }
    }
}
