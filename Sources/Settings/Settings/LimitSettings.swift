/// Rate limits, concurrency, budgets and what happens when Redis is away.
public struct LimitSettings: Sendable, Equatable {
    /// What admission does when Redis does not answer in time.
    public enum FailMode: String, Sendable, CaseIterable {
        /// Admit through the worker's in-memory limiter.
        case open
        /// Refuse with 503.
        case closed
    }

    public var enabled: Bool
    public var perMinute: Int
    public var perHour: Int
    /// Per user, over a rolling 24 hours.
    public var perDay: Int
    public var globalConcurrent: Int
    public var globalHourly: Int
    /// USD per UTC day of admission.
    public var userDailyCostUSD: Double
    public var globalDailyCostUSD: Double
    public var concurrencyLeaseSeconds: Int
    public var redisTimeoutMilliseconds: Int
    public var failMode: FailMode
    /// Paid upstream spend one worker allows while Redis is down.
    public var failOpenCostUSDPerWorker: Double

    static let countRange = 1...1_000_000_000

    public init(reading reader: ConfigurationReader) throws(ConfigurationError) {
        enabled = try reader.bool("RATE_LIMITING_ENABLED", default: true)
        perMinute = try reader.int("RATE_LIMIT_PER_MINUTE", default: 10, in: Self.countRange)
        perHour = try reader.int("RATE_LIMIT_PER_HOUR", default: 100, in: Self.countRange)
        perDay = try reader.int("RATE_LIMIT_PER_DAY", default: 500, in: Self.countRange)
        globalConcurrent = try reader.int("GLOBAL_CONCURRENT_LIMIT", default: 100, in: 1...1_000_000)
        globalHourly = try reader.int("GLOBAL_HOURLY_LIMIT", default: 1000, in: Self.countRange)
        userDailyCostUSD = try reader.double("USER_DAILY_COST_LIMIT", default: 5.0, in: 0...1_000_000)
        globalDailyCostUSD = try reader.double("GLOBAL_DAILY_COST_LIMIT", default: 100.0, in: 0...1_000_000)
        concurrencyLeaseSeconds = try reader.int("CONCURRENCY_LEASE_SECONDS", default: 15, in: 3...3600)
        redisTimeoutMilliseconds = try reader.int("RATE_LIMIT_TIMEOUT_MS", default: 50, in: 1...60_000)
        failMode = try reader.choice("RATE_LIMIT_FAIL_MODE", default: FailMode.open)
        failOpenCostUSDPerWorker = try reader.double("FAILOPEN_COST_USD_PER_WORKER", default: 1.0, in: 0...1_000_000)
    }
}
