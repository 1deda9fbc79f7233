import Logging
import RedisClient
import Testing
import TestSupport

@testable import Limits

/// The limiter against a real Redis whose reply to an admission is lost
/// after the script ran (``ReplyLosingProxy``).
@Suite struct LostReplyTests {
    @Test func anAdmissionWhoseReplyIsLostGivesItsLeaseAndReservationBackAtOnce() async throws {
        let redis = try PrivateRedis()
        defer { withExtendedLifetime(redis) {} }  // its deinit stops the server
        let proxy = try ReplyLosingProxy(to: redis.port)
        let client = RedisClient(
            configuration: .init(host: "127.0.0.1", port: proxy.port, maxConnections: 1, backoff: .milliseconds(20)...Duration.milliseconds(200)),
            logger: Logger(label: "test"))
        defer { client.shutdown() }
        // A lease far longer than the test: only the give-back can end it.
        let policy = RateLimiter.Policy(
            perMinute: 100, perHour: 100, perDay: 100, globalHourly: 100, globalConcurrent: 100, lease: .seconds(60), timeout: .seconds(2),
            failClosed: false, userDailyBudget: 1_000_000, globalDailyBudget: 1_000_000, failOpenBudget: 1_000_000)
        let limiter = RateLimiter(redis: client, policy: policy, logger: Logger(label: "test"))
        let background = Task { await limiter.run() }

        // Another user's admission first, so that Redis has the script: else the lost reply is a NOSCRIPT.
        let warmUp = try await limiter.admit(userID: 8, reserving: MicroUSD(3000)).get()
        limiter.settle(warmUp, charge: .refund)
        proxy.loseReply(toCommandContaining: LimiterKeys.user(7)[0])
        let admission = try await limiter.admit(userID: 7, reserving: MicroUSD(3000)).get()
        #expect(proxy.cuts == 1)
        #expect(!admission.holdsRedisLease, "admitted in memory: no reply came")
        #expect(try await limiter.usage(userID: 7).windows[0].current == 1, "the script ran in Redis")
        var held = (leases: -1, reservations: -1)
        for _ in 0..<50 {
            held = (try await client.send(["ZCARD", LimiterKeys.leases], timeout: .seconds(1)).int ?? -1,
                    try await client.send(["HLEN", LimiterKeys.reservations], timeout: .seconds(1)).int ?? -1)
            if held == (0, 0) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(held == (0, 0), "the lease and the reservation the lost admission took are given back within 5 s, not at the lease's end")
        #expect(try await limiter.usage(userID: 7).reserved == 0)

        limiter.settle(admission, charge: .refund)
        limiter.stop()
        await background.value
    }
}
