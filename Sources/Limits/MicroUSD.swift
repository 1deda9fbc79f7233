/// Money as the appliance counts it: whole micro-USD (a millionth of a
/// dollar), from the price arithmetic through the reservation and the charge
/// to the budgets in Redis. Decimal USD exists only where a person or the
/// guide's JSON reads it (``decimal``, ``usd``) and where the configuration
/// is read (``init(roundingUp:)``).
public struct MicroUSD: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var value: Int

    public init(_ value: Int) {
        self.value = value
    }

    public static let zero = MicroUSD(0)

    /// `usd` rounded up (a budget is never undercharged by rounding), after
    /// forgiving the binary floating-point noise below a millionth of one.
    public init(roundingUp usd: Double) {
        value = Int((usd * 1_000_000 - 1e-6).rounded(.up))
    }

    /// For the metrics, which count in floating-point USD.
    public var usd: Double { Double(value) / 1_000_000 }

    /// Exact decimal USD, always with a decimal point (the guide's JSON has
    /// one) and no trailing zeros: `0.231`, `0.000033`, `5.0`.
    public var decimal: String {
        let sign = value < 0 ? "-" : ""
        let whole = abs(value) / 1_000_000, fraction = abs(value) % 1_000_000
        guard fraction > 0 else { return "\(sign)\(whole).0" }
        var digits = String(fraction)
        digits = String(repeating: "0", count: 6 - digits.count) + digits
        while digits.hasSuffix("0") { digits.removeLast() }
        return "\(sign)\(whole).\(digits)"
    }

    /// Six decimals, for a person comparing amounts in a column: `0.002075`, `5.000000`.
    public var fixed: String {
        let digits = String(abs(value) % 1_000_000)
        return (value < 0 ? "-" : "") + "\(abs(value) / 1_000_000)." + String(repeating: "0", count: 6 - digits.count) + digits
    }

    public var description: String { decimal }

    public static func < (lhs: MicroUSD, rhs: MicroUSD) -> Bool { lhs.value < rhs.value }
    public static func + (lhs: MicroUSD, rhs: MicroUSD) -> MicroUSD { MicroUSD(lhs.value + rhs.value) }

    /// What `tokens` cost at `pricePer1K`, rounded up to the next micro-USD.
    public static func cost(tokens: Int, at pricePer1K: MicroUSD) -> MicroUSD {
        MicroUSD((tokens * pricePer1K.value + 999) / 1000)
    }
}
