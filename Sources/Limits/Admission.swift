/// An admitted request: settle it on every exit path.
public struct Admission: Sendable {
    public let id: String
    public let userID: Int
    /// Micro-USD held against both daily budgets until settled.
    public let reservation: Int
    public internal(set) var usage: [WindowUsage]
    /// False when the in-memory fallback admitted it.
    public let holdsRedisLease: Bool
    /// What the same round trip found in the answer cache.
    public internal(set) var cache: CacheState = .bypass
}

/// What an admitted request ends up costing.
public enum Charge: Sendable, Equatable {
    /// Nothing: no upstream call was made, or the upstream refused it without billing.
    case refund
    /// The whole reservation: the call may have been billed but its usage is unknown.
    case reservation
    /// What the upstream's usage says the call cost.
    case cost(MicroUSD)

    func amount(reservation: Int) -> Int {
        switch self {
        case .refund: 0
        case .reservation: reservation
        case .cost(let cost): cost.value
        }
    }
}
