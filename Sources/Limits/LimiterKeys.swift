/// The Redis keys, as operators read them (DESIGN §3).
public enum LimiterKeys {
    public static func user(_ id: Int) -> [String] {
        let base = "ratelimit:user:\(id)"
        return ["\(base):minute", "\(base):hour", "\(base):day", "\(base):minute:buckets", "\(base):hour:buckets", "\(base):day:buckets"]
    }
    public static let globalHourly = "ratelimit:global:hourly:buckets"
    /// Sorted set: admission id → lease deadline (ms, Redis time).
    public static let leases = "ratelimit:global:leases"
    /// String: requests in flight (`GET ratelimit:global:concurrent`).
    public static let concurrent = "ratelimit:global:concurrent"
    /// Hash: admission id → "user day micro-USD" for every reservation in flight.
    public static let reservations = "ratelimit:cost:reservations"
    /// The budget keys: `…user:{id}:daily` / `…global:daily` (strings, USD
    /// spent today), `…user:{id}:days` / `…global:days` (hashes of micro-USD:
    /// `{n}:spent` and `{n}:reserved` for UTC day n, today and yesterday).
    public static let costPrefix = "ratelimit:cost:"
    public static func userDailyCost(_ id: Int) -> String { "\(costPrefix)user:\(id):daily" }
    public static let globalDailyCost = "\(costPrefix)global:daily"
    public static func userDays(_ id: Int) -> String { "\(costPrefix)user:\(id):days" }
    public static let globalDays = "\(costPrefix)global:days"

    /// The books a charge to `userID` posts to: the user's days and daily, then everybody's.
    static func books(_ userID: Int) -> [String] {
        [userDays(userID), userDailyCost(userID), globalDays, globalDailyCost]
    }

    /// The books of settlements for `userIDs`: everybody's first, then each user's days and daily.
    static func books(of userIDs: some Sequence<Int>) -> [String] {
        [globalDays, globalDailyCost] + Set(userIDs).sorted().flatMap { [userDays($0), userDailyCost($0)] }
    }
}
