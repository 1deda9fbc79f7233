import LLM
import Limits
import Synchronization
import Testing

@testable import Assistant

/// What a query is charged on each path, with a fake limiter and a fake assistant.
@Suite struct QueryPipelineTests {
    final class FakeAdmission: QueryAdmission {
        struct Refused: Error {}
        let refuse: Bool
        let settled = Mutex<[Charge]>([])
        let keptAlive = Mutex<(started: Int, ended: Int)>((0, 0))

        init(refuse: Bool = false) { self.refuse = refuse }

        func admit(userID: Int, reserving reservation: MicroUSD, cache: CacheRequest?, alreadyCounted: Bool) async throws -> MicroUSD {
            if refuse { throw Refused() }
            return reservation
        }

        func cacheState(of ticket: MicroUSD) -> CacheState { .bypass }

        func keepAlive(_ ticket: MicroUSD) async {
            keptAlive.withLock { $0.started += 1 }
            try? await Task.sleep(for: .seconds(3600))
            keptAlive.withLock { $0.ended += 1 }
        }

        func settle(_ ticket: MicroUSD, charge: Charge) {
            settled.withLock { $0.append(charge) }
        }
    }

    final class FakeAnswering: Answering {
        let retrievalError: (any Error)?
        let answerError: LLMError?
        let cost: MicroUSD
        let costEstimated: Bool
        let asked = Mutex(0)

        init(retrievalError: (any Error)? = nil, answerError: LLMError? = nil, cost: MicroUSD = MicroUSD(2000), costEstimated: Bool = false) {
            self.retrievalError = retrievalError
            self.answerError = answerError
            self.cost = cost
            self.costEstimated = costEstimated
        }

        func reservation(for question: Question) -> MicroUSD { MicroUSD(10_000) }

        func cacheIdentity(for question: Question) -> String { question.normalized }

        func retrieve(_ question: Question, userID: Int) async throws -> Retrieval {
            if let retrievalError { throw retrievalError }
            return Retrieval(question: question, passages: [], context: [])
        }

        func answer(_ retrieval: Retrieval, pieces: TextPieces?) async throws -> AssistantAnswer {
            asked.withLock { $0 += 1 }
            if let answerError { throw answerError }
            return AssistantAnswer(
                answer: "Grace is favour.", sources: [], provider: "fake", queryTokens: 3, contextTokens: 0, outputTokens: 4,
                cost: cost, costEstimated: costEstimated)
        }
    }

    struct DatabaseDown: Error {}

    let question = try! Question("What is grace?", maxCharacters: 100)

    func run(_ answering: FakeAnswering, _ admission: FakeAdmission = FakeAdmission()) async -> (Result<MicroUSD, any Error>, [Charge]) {
        let pipeline = QueryPipeline(answering: answering, admission: admission)
        do {
            let outcome = try await pipeline.run(question, userID: 1)
            return (.success(outcome.cost), admission.settled.withLock { $0 })
        } catch {
            return (.failure(error), admission.settled.withLock { $0 })
        }
    }

    @Test func anAnswerIsChargedWhatItsUsageSays() async throws {
        let (result, settled) = await run(FakeAnswering())
        #expect(try result.get() == MicroUSD(2000))
        #expect(settled == [.cost(MicroUSD(2000))])
    }

    @Test func anAnswerWithoutUsageIsChargedAtLeastTheReservation() async throws {
        let (result, settled) = await run(FakeAnswering(cost: MicroUSD(100), costEstimated: true))
        #expect(try result.get() == MicroUSD(10_000))
        #expect(settled == [.cost(MicroUSD(10_000))])
    }

    @Test func aRetrievalFailureIsRefundedAndNoCallIsMade() async {
        let answering = FakeAnswering(retrievalError: DatabaseDown())
        let (result, settled) = await run(answering)
        #expect(throws: DatabaseDown.self) { try result.get() }
        #expect(settled == [.refund])
        #expect(answering.asked.withLock { $0 } == 0)
    }

    @Test(arguments: [
        LLMError.upstreamStatus(500), .rateLimited(retryAfterSeconds: 3), .circuitOpen(retryAfterSeconds: 30), .unreachable("connection refused"),
    ])
    func anUpstreamRefusalIsRefunded(error: LLMError) async {
        let (result, settled) = await run(FakeAnswering(answerError: error))
        #expect(throws: error) { try result.get() }
        #expect(settled == [.refund])
    }

    @Test(arguments: [LLMError.timedOut, .upstreamFailed("connection reset")])
    func aCallCutShortIsChargedTheReservation(error: LLMError) async {
        let (_, settled) = await run(FakeAnswering(answerError: error))
        #expect(settled == [.reservation])
    }

    @Test func aRefusedAdmissionRunsNothingAndSettlesNothing() async {
        let answering = FakeAnswering()
        let (result, settled) = await run(answering, FakeAdmission(refuse: true))
        #expect(throws: FakeAdmission.Refused.self) { try result.get() }
        #expect(settled.isEmpty)
        #expect(answering.asked.withLock { $0 } == 0)
    }

    @Test func theLeaseIsKeptAliveWhileTheQueryRunsAndNoLonger() async throws {
        let admission = FakeAdmission()
        _ = await run(FakeAnswering(), admission)
        #expect(admission.keptAlive.withLock { $0 } == (1, 1), "started, and cancelled before run returned")
    }

    @Test func withLimitingOffNothingIsAdmittedOrSettled() async throws {
        let pipeline = QueryPipeline<FakeAdmission>(answering: FakeAnswering(), admission: nil)
        let outcome = try await pipeline.run(question, userID: 1)
        #expect(outcome.cost == MicroUSD(2000) && outcome.ticket == nil)
    }
}
