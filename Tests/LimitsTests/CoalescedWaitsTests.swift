import Testing

@testable import Limits

/// A worker's waits for leaders: a leader's message that arrives before its
/// waiter has begun to wait is still the waiter's, an older one is not, and
/// what is remembered stays bounded.
@Suite struct CoalescedWaitsTests {
    @Test func aMessageThatArrivedBeforeTheWaitBeganEndsItAtOnce() async {
        let waits = CoalescedWaits()
        let asked = ContinuousClock.now
        waits.wake("d1", .answered("entry"))
        let start = ContinuousClock.now
        #expect(await waits.wait("d1", since: asked, timeout: .seconds(5)) == .answered("entry"))
        #expect(ContinuousClock.now - start < .seconds(1))
    }

    @Test func aMessageFromBeforeTheConsultationIsNotThisWaitsAndItWaitsItsTimeOut() async {
        let waits = CoalescedWaits()
        waits.wake("d1", .failed)  // an earlier leader's failure
        let asked = ContinuousClock.now
        #expect(await waits.wait("d1", since: asked, timeout: .milliseconds(50)) == .recheck)
    }

    @Test func aWaiterRegisteredFirstIsWokenAndEveryWaiterOfTheDigestGetsTheMessage() async {
        let waits = CoalescedWaits()
        let asked = ContinuousClock.now
        async let first = waits.wait("d1", since: asked, timeout: .seconds(5))
        async let second = waits.wait("d1", since: asked, timeout: .seconds(5))
        try? await Task.sleep(for: .milliseconds(50))
        waits.wake("d1", .answered("entry"))
        #expect(await [first, second] == [.answered("entry"), .answered("entry")])
    }

    @Test func atMostTheNewestMessagesAreRemembered() async {
        let waits = CoalescedWaits()
        let asked = ContinuousClock.now
        for index in 0...CoalescedWaits.kept { waits.wake("d\(index)", .answered("\(index)")) }
        #expect(await waits.wait("d0", since: asked, timeout: .milliseconds(20)) == .recheck)
        #expect(await waits.wait("d\(CoalescedWaits.kept)", since: asked, timeout: .seconds(5)) == .answered("\(CoalescedWaits.kept)"))
    }
}
