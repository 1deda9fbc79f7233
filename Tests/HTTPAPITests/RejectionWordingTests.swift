import HTTPTypes
import Testing

@testable import HTTPAPI
@testable import Limits

@Suite struct RejectionWordingTests {
    @Test func budgetRejectionsSayWhichBudgetAndWhenItResets() {
        let user = Rejection(reason: .userBudget, limit: 10_000, retryAfterSeconds: 42)
        #expect(user.status == .tooManyRequests)
        #expect(user.detail == "Daily cost limit reached: 0.01 USD per day; it resets at 00:00 UTC")
        let global = Rejection(reason: .globalBudget, limit: 100_000_000, retryAfterSeconds: 42)
        #expect(global.status == .serviceUnavailable)
        #expect(global.detail.hasSuffix("100.0 USD per day for all users; it resets at 00:00 UTC"))
    }

    @Test func aUsersOwnLimitIs429AndASharedOneIs503() {
        #expect(Rejection(reason: .user(.minute), limit: 10, retryAfterSeconds: 1).status == .tooManyRequests)
        #expect(Rejection(reason: .concurrency, limit: 100, retryAfterSeconds: 1).status == .serviceUnavailable)
        #expect(Rejection(reason: .unavailable, limit: 0, retryAfterSeconds: 1).status == .serviceUnavailable)
    }
}
