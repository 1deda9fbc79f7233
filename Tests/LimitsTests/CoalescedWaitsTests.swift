import Logging
import RedisClient
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

    @Test func aWaiterTakesOnlyAnAnswerBuiltOnTheVersionsItsAdmissionRead() async {
        let redis = RedisClient(configuration: .init(host: "127.0.0.1", port: 1, maxConnections: 1), logger: Logger(label: "test"))
        defer { redis.shutdown() }
        let cache = AnswerCache(redis: redis, ttl: .seconds(60), maxEntryBytes: 100, timeout: .seconds(1), logger: Logger(label: "test"))
        let asked = ContinuousClock.now
        cache.deliver(Array("d1\nnotes-1 library-1\n{}".utf8))
        let current = CacheSlot(digest: "d1", versions: "notes-1 library-1", token: nil)
        #expect(await cache.waitForAnswer(current, since: asked, limit: .seconds(1)) == .answered("{}"))
        let newerNotes = CacheSlot(digest: "d1", versions: "notes-2 library-1", token: nil)
        #expect(await cache.waitForAnswer(newerNotes, since: asked, limit: .seconds(1)) == .recheck, "the notes changed while the leader computed")
    }
}
