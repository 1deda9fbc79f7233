import Primitives
import Settings

extension RateLimiter {
    public struct Policy: Sendable {
        public var perMinute: Int
        public var perHour: Int
        public var perDay: Int
        public var globalHourly: Int
        public var globalConcurrent: Int
        public var lease: Duration
        /// The longest a request waits for Redis.
        public var timeout: Duration
        /// Refuse (503) instead of limiting in memory when Redis is away.
        public var failClosed: Bool
        /// Daily budgets per user and for everybody, in micro-USD.
        public var userDailyBudget: Int
        public var globalDailyBudget: Int
        /// The paid spend (micro-USD) one worker allows while Redis is away.
        public var failOpenBudget: Int
        /// Added to Redis's clock by every script: zero except in tests that move the day.
        public var clockOffset: Duration = .zero

        public init(
            perMinute: Int, perHour: Int, perDay: Int, globalHourly: Int, globalConcurrent: Int, lease: Duration, timeout: Duration,
            failClosed: Bool, userDailyBudget: Int, globalDailyBudget: Int, failOpenBudget: Int
        ) {
            self.perMinute = perMinute
            self.perHour = perHour
            self.perDay = perDay
            self.globalHourly = globalHourly
            self.globalConcurrent = globalConcurrent
            self.lease = lease
            self.timeout = timeout
            self.failClosed = failClosed
            self.userDailyBudget = userDailyBudget
            self.globalDailyBudget = globalDailyBudget
            self.failOpenBudget = failOpenBudget
        }

        var windowLimits: [Int] { [perMinute, perHour, perDay] }
    }
}

extension RateLimiter.Policy {
    /// The policy the settings describe (RATE_LIMIT_*, GLOBAL_*, *_COST_LIMIT, FAILOPEN_COST_USD_PER_WORKER).
    public init(_ limits: LimitSettings) {
        self.init(
            perMinute: limits.perMinute, perHour: limits.perHour, perDay: limits.perDay, globalHourly: limits.globalHourly,
            globalConcurrent: limits.globalConcurrent, lease: .seconds(limits.concurrencyLeaseSeconds),
            timeout: .milliseconds(limits.redisTimeoutMilliseconds), failClosed: limits.failMode == .closed,
            userDailyBudget: MicroUSD(roundingUp: limits.userDailyCostUSD).value, globalDailyBudget: MicroUSD(roundingUp: limits.globalDailyCostUSD).value,
            failOpenBudget: MicroUSD(roundingUp: limits.failOpenCostUSDPerWorker).value)
    }
}
