@testable import Limits
import Testing

/// Money arithmetic and the in-memory fail-open budget (the Redis side is in
/// the end-to-end BudgetTests).
@Suite struct BudgetArithmeticTests {
    static func policy(failOpenBudget: Int) -> RateLimiter.Policy {
        RateLimiter.Policy(
            perMinute: 100, perHour: 100, perDay: 100, globalHourly: 100, globalConcurrent: 100, lease: .seconds(3), timeout: .milliseconds(50),
            failClosed: false, userDailyBudget: 0, globalDailyBudget: 0, failOpenBudget: failOpenBudget)
    }

    @Test(arguments: [(0.002075, 2075), (321 * 0.005 / 1000 + 47 * 0.01 / 1000, 2075), (0.0000001, 1), (0, 0), (5.0, 5_000_000)])
    func microUSDRoundsUpButForgivesFloatingPointNoise(usd: Double, micros: Int) {
        #expect(MicroUSD(roundingUp: usd) == MicroUSD(micros))
    }

    @Test func aChargeIsTheRealCostTheReservationOrNothing() {
        #expect(Charge.cost(MicroUSD(1000)).amount(reservation: 2800) == 1000)
        #expect(Charge.reservation.amount(reservation: 2800) == 2800)
        #expect(Charge.refund.amount(reservation: 2800) == 0)
    }

    /// Tokens times the price per 1,000, rounded up to the next micro-USD (the guide's Test 4 prices: 321 and 47 tokens).
    @Test func aCostIsIntegerArithmeticRoundedUp() {
        #expect(MicroUSD.cost(tokens: 321, at: MicroUSD(500_000)) + MicroUSD.cost(tokens: 47, at: MicroUSD(1_500_000)) == MicroUSD(231_000))
        #expect(MicroUSD.cost(tokens: 1, at: MicroUSD(150)) == MicroUSD(1), "0.15 micro-USD is charged as 1")
        #expect(MicroUSD.cost(tokens: 0, at: MicroUSD(150)) == .zero)
    }

    @Test(arguments: [(231_000, "0.231"), (33, "0.000033"), (5_000_000, "5.0"), (0, "0.0"), (1_234_567, "1.234567")])
    func anAmountReadsAsExactDecimalUSD(micros: Int, text: String) {
        #expect(MicroUSD(micros).decimal == text)
    }

    @Test func theAdmissionScriptsCodesNameEachLimit() {
        #expect(Rejection.Reason(scriptCode: 1) == .user(.minute) && Rejection.Reason(scriptCode: 3) == .user(.day))
        #expect(Rejection.Reason(scriptCode: 5) == .concurrency)
        #expect(Rejection.Reason(scriptCode: 6) == .userBudget && Rejection.Reason(scriptCode: 7) == .globalBudget)
        #expect(Rejection.Reason(scriptCode: 8) == nil)
    }

    @Test func failOpenSpendStopsAtTheWorkersBudgetUntilItIsReplayed() throws {
        let limiter = InMemoryLimiter(policy: Self.policy(failOpenBudget: 6000))
        let first = try limiter.admit(userID: 1, id: "a", reserving: 2800).get()
        let second = try limiter.admit(userID: 2, id: "b", reserving: 2800).get()
        #expect(throws: Rejection.self, "5600 reserved + 2800 > 6000") { try limiter.admit(userID: 1, id: "c", reserving: 2800).get() }
        #expect((try? limiter.admit(userID: 1, id: "free", reserving: 0).get()) != nil, "a free call never stops")
        limiter.settle(first, charging: 2075)
        limiter.settle(second, charging: 0)
        let third = try limiter.admit(userID: 1, id: "d", reserving: 2800).get()
        limiter.settle(third, charging: 2075)
        #expect(throws: Rejection.self, "4150 spent + 2800 > 6000") { try limiter.admit(userID: 1, id: "e", reserving: 2800).get() }
        let owed = limiter.spendToReplay()
        #expect(owed.map(\.userID) == [1] && owed.map(\.micros) == [4150])
        #expect(throws: Rejection.self, "taken but not yet written: still counts") { try limiter.admit(userID: 1, id: "f", reserving: 2800).get() }
        limiter.markReplayed(userID: 1, micros: 4150)
        #expect(limiter.spendToReplay().isEmpty)
        #expect((try? limiter.admit(userID: 1, id: "g", reserving: 2800).get()) != nil, "written to Redis: the allowance is back")
    }
}
