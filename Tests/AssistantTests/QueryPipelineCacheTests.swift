import LLM
import Limits
import Store
import Synchronization
import Testing

@testable import Assistant

/// The pipeline's use of the answer cache, with a scripted fake cache and limiting off.
@Suite struct QueryPipelineCacheTests {
    final class FakeStore: AnswerStore {
        /// What each consult answers, in order (then `.bypass`).
        let consults: Mutex<[CacheState]>
        /// What each wait answers, in order (then `.recheck`).
        let waits: Mutex<[AnswerCache.WaitOutcome]>
        let asked = Mutex<[CacheRequest]>([])
        let stored = Mutex<[(String, CacheSlot)]>([])
        let abandoned = Mutex<[CacheSlot]>([])

        init(_ consults: [CacheState], waits: [AnswerCache.WaitOutcome] = []) {
            self.consults = Mutex(consults)
            self.waits = Mutex(waits)
        }

        func consult(userID: Int, request: CacheRequest, token: String) async -> CacheState {
            asked.withLock { $0.append(request) }
            return consults.withLock { $0.isEmpty ? .bypass : $0.removeFirst() }
        }

        func store(_ entry: String, in slot: CacheSlot) async -> Bool {
            stored.withLock { $0.append((entry, slot)) }
            return true
        }

        func abandon(_ slot: CacheSlot) async { abandoned.withLock { $0.append(slot) } }

        func keepLocked(_ slot: CacheSlot) async {}

        func waitForAnswer(_ slot: CacheSlot, since: ContinuousClock.Instant, limit: Duration) async -> AnswerCache.WaitOutcome {
            waits.withLock { $0.isEmpty ? .recheck : $0.removeFirst() }
        }
    }

    let question = try! Question("What is grace?", maxCharacters: 100)
    let slot = CacheSlot(digest: "d1", versions: "v1 v2", token: "t1")
    let entry = CachedAnswer(
        RenderedAnswer(AssistantAnswer(answer: "Stored grace.", sources: [], provider: "fake", queryTokens: 3, contextTokens: 0, outputTokens: 4, cost: MicroUSD(3000), costEstimated: false)),
        cost: MicroUSD(3000), createdAt: 1
    ).encoded

    func pipeline(_ store: FakeStore, _ answering: QueryPipelineTests.FakeAnswering = .init()) -> QueryPipeline<QueryPipelineTests.FakeAdmission> {
        QueryPipeline(answering: answering, admission: nil, cache: store, waitLimit: .seconds(5))
    }

    @Test func aHitIsServedWithoutAnUpstreamCallAtCostZero() async throws {
        let answering = QueryPipelineTests.FakeAnswering()
        let outcome = try await pipeline(FakeStore([.hit(entry: entry, ttlMilliseconds: 1500)]), answering).run(question, userID: 1)
        #expect(outcome.answer.json.contains("Stored grace."))
        #expect(outcome.cost == .zero && outcome.saved == MicroUSD(3000))
        #expect(outcome.cache == .hit(ttlSeconds: 2))
        #expect(answering.asked.withLock { $0 } == 0)
    }

    @Test func aLeaderStoresItsAnswerWithItsCost() async throws {
        let store = FakeStore([.lead(slot)])
        let outcome = try await pipeline(store).run(question, userID: 1)
        #expect(outcome.cache == .miss(stored: true))
        let stored = store.stored.withLock { $0.first }
        #expect(stored?.1 == slot)
        #expect(stored.flatMap { CachedAnswer(decoding: $0.0) }?.cost == MicroUSD(2000))
        #expect(store.asked.withLock { $0 } == [CacheRequest(mode: .read, identity: "what is grace")])
    }

    @Test func aFailedLeaderStoresNothingAndReleasesItsLock() async {
        let store = FakeStore([.lead(slot)])
        await #expect(throws: LLMError.upstreamStatus(500)) {
            try await pipeline(store, .init(answerError: .upstreamStatus(500))).run(question, userID: 1)
        }
        #expect(store.stored.withLock { $0.isEmpty })
        #expect(store.abandoned.withLock { $0 } == [slot])
    }

    @Test func aWaiterGetsTheLeadersAnswerAsCoalescedAtCostZero() async throws {
        let answering = QueryPipelineTests.FakeAnswering()
        let store = FakeStore([.wait(CacheSlot(digest: "d1", versions: "v1 v2", token: nil))], waits: [.answered(entry)])
        let outcome = try await pipeline(store, answering).run(question, userID: 1)
        #expect(outcome.cache == .coalesced && outcome.cost == .zero)
        #expect(answering.asked.withLock { $0 } == 0)
    }

    @Test func whenTheLeaderFailsAWaiterConsultsAgainAndTakesOver() async throws {
        let answering = QueryPipelineTests.FakeAnswering()
        let store = FakeStore([.wait(CacheSlot(digest: "d1", versions: "v1 v2", token: nil)), .lead(slot)], waits: [.failed])
        let outcome = try await pipeline(store, answering).run(question, userID: 1)
        #expect(outcome.cache == .miss(stored: true))
        #expect(answering.asked.withLock { $0 } == 1)
        #expect(store.asked.withLock { $0.count } == 2)
    }

    @Test func aWaiterGivesUpWhenTheLeaderAndTheOneWhoTookOverBothFail() async {
        let waiting = CacheState.wait(CacheSlot(digest: "d1", versions: "v1 v2", token: nil))
        let answering = QueryPipelineTests.FakeAnswering()
        let store = FakeStore([waiting, waiting], waits: [.failed, .failed])
        await #expect(throws: LLMError.self) { try await pipeline(store, answering).run(question, userID: 1) }
        #expect(answering.asked.withLock { $0 } == 0, "never one call per waiter")
    }

    @Test func noStoreNeitherConsultsNorStores() async throws {
        let store = FakeStore([.hit(entry: entry, ttlMilliseconds: 1000)])
        let outcome = try await pipeline(store).run(question, userID: 1, directives: CacheDirectives(noStore: true))
        #expect(outcome.cache == .directed(stored: false))
        #expect(store.asked.withLock { $0.isEmpty } && store.stored.withLock { $0.isEmpty })
    }

    @Test func noCacheAsksForARefreshAndStores() async throws {
        let store = FakeStore([.refresh(CacheSlot(digest: "d1", versions: "v1 v2", token: nil))])
        let outcome = try await pipeline(store).run(question, userID: 1, directives: CacheDirectives(noCache: true))
        #expect(outcome.cache == .directed(stored: true))
        #expect(store.asked.withLock { $0.map(\.mode) } == [.refresh])
        #expect(store.stored.withLock { $0.count } == 1)
    }

    @Test func anUnreadableEntryIsRecomputedAndReplaced() async throws {
        let store = FakeStore([.hit(entry: "{not json", ttlMilliseconds: 1000), .refresh(slot)])
        let outcome = try await pipeline(store).run(question, userID: 1)
        #expect(outcome.answer.json.contains("Grace is favour."))
        #expect(store.asked.withLock { $0.map(\.mode) } == [.read, .refresh])
    }

    @Test func anEntryReadsBackAsItWasStored() throws {
        let text = "Line one\nand \"two\" \u{1}"
        let source = AnswerSource(kind: .note, noteID: 7, ref: nil, title: "On \\ grace", snippet: "**grace**", score: 3.200000047683716)
        let rendered = RenderedAnswer(AssistantAnswer(
            answer: text, sources: [source], provider: "open ai", queryTokens: 3, contextTokens: 10, outputTokens: 4,
            cost: MicroUSD(120), costEstimated: true))
        #expect(rendered.json == #"{"answer":"Line one\nand \"two\" \u0001","sources":[{"kind":"note","id":7,"title":"On \\ grace","snippet":"**grace**","score":3.2}]}"#)
        let entry = CachedAnswer(rendered, cost: MicroUSD(120), createdAt: 1_700_000_000)
        #expect(CachedAnswer(decoding: entry.encoded) == entry)
        #expect(entry.encoded.hasPrefix("2 120 1700000000 "))
        #expect(CachedAnswer(decoding: "2 garbage\n{}") == nil)
        // An entry an earlier version wrote (cost in decimal USD) still reads, rounded up to the micro-USD.
        let older = "1 0.00012 1700000000 3 10 4 1 open ai\n" + rendered.json
        #expect(CachedAnswer(decoding: older) == entry)
    }

    @Test(arguments: [("What is grace?", "what is grace"), ("  What  is\tgrace? ", "what is grace"), ("¿Qué es la GRACIA?", "qué es la gracia"), ("grace...", "grace")])
    func questionsAreNormalizedForTheCache(raw: String, normalized: String) throws {
        #expect(try Question(raw, maxCharacters: 100).normalized == normalized)
    }
}
