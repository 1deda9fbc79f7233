import Limits
import LLM
import Primitives
import Tracing

/// What the pipeline needs from the rate limiter (HTTPAPI's `RateLimitGate`
/// over Limits' `RateLimiter`; a fake in tests).
public protocol QueryAdmission: Sendable {
    /// Proof of an admission: what `settle` and `keepAlive` take.
    associatedtype Ticket: Sendable
    /// Admits `userID` with `reservation` held against the budgets, or
    /// throws the refusal. With `cache` the same decision consults the answer
    /// cache; `alreadyCounted`: an earlier admission of this request counted its windows.
    func admit(userID: Int, reserving reservation: MicroUSD, cache: CacheRequest?, alreadyCounted: Bool) async throws -> Ticket
    /// What the admission found in the answer cache.
    func cacheState(of ticket: Ticket) -> CacheState
    /// Keeps the ticket's concurrency lease alive until the task is cancelled.
    func keepAlive(_ ticket: Ticket) async
    /// Gives the lease back and charges `charge`. Never waits; idempotent.
    func settle(_ ticket: Ticket, charge: Charge)
}

/// What the pipeline needs from the answer cache (Limits' ``AnswerCache``; a fake in tests).
public protocol AnswerStore: Sendable {
    func consult(userID: Int, request: CacheRequest, token: String) async -> CacheState
    func store(_ entry: String, in slot: CacheSlot) async -> Bool
    func abandon(_ slot: CacheSlot) async
    func keepLocked(_ slot: CacheSlot) async
    /// `since`: when the consultation that said "wait" was sent; a leader's message that arrived after it counts, even before the wait began.
    func waitForAnswer(_ slot: CacheSlot, since: ContinuousClock.Instant, limit: Duration) async -> AnswerCache.WaitOutcome
}

extension AnswerCache: AnswerStore {}

/// What the pipeline needs from the assistant (``AssistantService``; a fake in tests).
public protocol Answering: Sendable {
    /// The most an answer to `question` can cost, reserved before it runs.
    func reservation(for question: Question) -> MicroUSD
    /// What makes two questions one cache entry, besides the user and the data versions.
    func cacheIdentity(for question: Question) -> String
    /// The passages for `question`: free.
    func retrieve(_ question: Question, userID: Int) async throws -> Retrieval
    /// The provider's answer: from here the call may be billed. With `pieces`, its text as it comes.
    func answer(_ retrieval: Retrieval, pieces: TextPieces?) async throws -> AssistantAnswer
}

extension AssistantService: Answering {}

/// A streamed query's progress, told as it happens: the sources once
/// retrieval has found them, then the answer's text piece by piece. A query
/// answered from the cache (or by an identical request) tells neither: its
/// outcome holds the whole answer.
public struct QueryProgress: Sendable {
    public var sources: @Sendable ([AnswerSource]) -> Void
    public var text: TextPieces

    public init(sources: @escaping @Sendable ([AnswerSource]) -> Void, text: @escaping TextPieces) {
        self.sources = sources
        self.text = text
    }
}

/// An answered query: the answer, what it was charged, and its admission (nil with limiting off).
public struct QueryOutcome<Ticket: Sendable>: Sendable {
    public let answer: RenderedAnswer
    /// What the budgets are charged and the answer reports: 0 from the cache;
    /// without usage, at least the reservation.
    public let cost: MicroUSD
    public let ticket: Ticket?
    public let cache: CacheResult
    /// What the answer cost when it was computed, saved by serving it again (0 unless a hit or coalesced).
    public let saved: MicroUSD
}

/// A query from question to answer: admit (reserving the worst case) while
/// consulting the answer cache, then either serve the stored answer, wait for
/// the identical request already computing it, or retrieve, answer, store
/// and settle, with the lease (and the leader's lock) kept alive meanwhile.
/// It alone decides what a query is charged; the HTTP layer maps its errors
/// and outcome to responses.
public struct QueryPipeline<Admission: QueryAdmission>: Sendable {
    let answering: any Answering
    /// nil when RATE_LIMITING_ENABLED=false: nothing is admitted or settled.
    public let admission: Admission?
    /// nil when CACHE_ENABLED=false.
    let cache: (any AnswerStore)?
    /// The longest a request waits for an identical one's answer (LLM_TIMEOUT_SECONDS).
    let waitLimit: Duration

    public init(answering: any Answering, admission: Admission?, cache: (any AnswerStore)? = nil, waitLimit: Duration = .seconds(20)) {
        self.answering = answering
        self.admission = admission
        self.cache = cache
        self.waitLimit = waitLimit
    }

    /// Answers `question` for `userID`. Throws the admission's refusal, or
    /// what retrieval or the provider threw (the budgets charged as the
    /// failure deserves: nothing before the upstream call or when it refused,
    /// the reservation when it was cut short). Nothing is cached on failure.
    public func run(
        _ question: Question, userID: Int, directives: CacheDirectives = CacheDirectives(), progress: QueryProgress? = nil
    ) async throws -> QueryOutcome<Admission.Ticket> {
        let reservation = answering.reservation(for: question)
        var request = cacheRequest(question, directives)
        let deadline = ContinuousClock.now + waitLimit
        var counted = false
        var failedLeaders = 0
        while true {
            let asked = ContinuousClock.now
            let (ticket, state) = try await begin(userID: userID, reservation: reservation, request: request, alreadyCounted: counted)
            counted = true
            switch state {
            case .hit(let entry, let ttl):
                if let cached = CachedAnswer(decoding: entry) { return Self.served(cached, result: .hit(ttlSeconds: (ttl + 999) / 1000), ticket: ticket) }
                request?.mode = .refresh  // unreadable (another version wrote it): recompute and replace it
            case .wait(let slot):
                switch await cache?.waitForAnswer(slot, since: asked, limit: deadline - .now) ?? .failed {
                case .answered(let entry):
                    if let cached = CachedAnswer(decoding: entry) { return Self.served(cached, result: .coalesced, ticket: ticket) }
                case .failed:
                    // One waiter takes over (the next admission takes the lock); if its attempt fails too, the rest give up.
                    failedLeaders += 1
                    if failedLeaders > 1 { throw LLMError.upstreamFailed("the identical request this one waited for failed twice") }
                case .recheck:
                    if ContinuousClock.now >= deadline { throw LLMError.timedOut }
                }
            case .bypass, .lead, .refresh:
                return try await compute(
                    question, userID: userID, reservation: reservation, ticket: ticket, state: state, directed: directives != CacheDirectives(), progress: progress)
            }
        }
    }

    private func cacheRequest(_ question: Question, _ directives: CacheDirectives) -> CacheRequest? {
        guard cache != nil, !directives.noStore else { return nil }
        return CacheRequest(mode: directives.noCache ? .refresh : .read, identity: answering.cacheIdentity(for: question))
    }

    /// Admits (consulting the cache in the same round trip), or with limiting off consults the cache alone.
    private func begin(userID: Int, reservation: MicroUSD, request: CacheRequest?, alreadyCounted: Bool) async throws -> (Admission.Ticket?, CacheState) {
        try await withSpan("admission") { span in
            span.attributes["db.system.name"] = "redis"
            let (ticket, state) = try await admitOrConsult(userID: userID, reservation: reservation, request: request, alreadyCounted: alreadyCounted)
            span.attributes["scribes.cache.state"] = state.name
            return (ticket, state)
        }
    }

    private func admitOrConsult(userID: Int, reservation: MicroUSD, request: CacheRequest?, alreadyCounted: Bool) async throws -> (Admission.Ticket?, CacheState) {
        if let admission {
            let ticket = try await admission.admit(userID: userID, reserving: reservation, cache: request, alreadyCounted: alreadyCounted)
            return (ticket, admission.cacheState(of: ticket))
        }
        guard let cache, let request else { return (nil, .bypass) }
        return (nil, await cache.consult(userID: userID, request: request, token: Self.token()))
    }

    static func served(_ cached: CachedAnswer, result: CacheResult, ticket: Admission.Ticket?) -> QueryOutcome<Admission.Ticket> {
        QueryOutcome(answer: cached.answer, cost: .zero, ticket: ticket, cache: result, saved: cached.cost)
    }

    /// Retrieves, answers and stores, keeping the lease and the leader's lock alive, and settles.
    private func compute(
        _ question: Question, userID: Int, reservation: MicroUSD, ticket: Admission.Ticket?, state: CacheState, directed: Bool, progress: QueryProgress?
    ) async throws -> QueryOutcome<Admission.Ticket> {
        var charge = Charge.refund
        defer { if let admission, let ticket { Self.settle(ticket, charge: charge, with: admission) } }
        let slot = state.slotToStore
        let (answer, cost) = try await withThrowingTaskGroup(of: Void.self, returning: (AssistantAnswer, MicroUSD).self) { group in
            if let admission, let ticket { group.addTask { await admission.keepAlive(ticket) } }
            if let cache, let slot { group.addTask { await cache.keepLocked(slot) } }
            defer { group.cancelAll() }
            do {
                return try await self.answer(question, userID: userID, reservation: reservation, progress: progress, charge: &charge)
            } catch {
                if let cache, let slot { await cache.abandon(slot) }
                throw error
            }
        }
        let rendered = RenderedAnswer(answer)
        var stored = false
        if let cache, let slot { stored = await cache.store(CachedAnswer(rendered, cost: cost).encoded, in: slot) }
        let result: CacheResult = cache == nil || (state == .bypass && !directed) ? .bypass : directed ? .directed(stored: stored) : .miss(stored: stored)
        return QueryOutcome(answer: rendered, cost: cost, ticket: ticket, cache: result, saved: .zero)
    }

    /// Retrieves and answers, keeping `charge` what the query costs at each step.
    private func answer(
        _ question: Question, userID: Int, reservation: MicroUSD, progress: QueryProgress?, charge: inout Charge
    ) async throws -> (AssistantAnswer, MicroUSD) {
        let retrieval = try await withSpan("retrieval") { span in
            span.attributes["db.system.name"] = "postgresql"
            let retrieval = try await answering.retrieve(question, userID: userID)
            span.attributes["scribes.passages"] = retrieval.passages.count
            return retrieval
        }
        progress?.sources(retrieval.sources)
        charge = .reservation  // from here the provider may bill the call (a stream whose client leaves pays it)
        let answer: AssistantAnswer
        do {
            answer = try await answering.answer(retrieval, pieces: progress?.text)
        } catch let error as LLMError where !error.mayHaveBeenBilled {
            charge = .refund
            throw error
        }
        // Without usage the reservation is what is charged, and what the answer reports.
        let cost = answer.costEstimated ? max(reservation, answer.cost) : answer.cost
        charge = .cost(cost)
        return (answer, cost)
    }

    /// Hands the lease and the charge to the worker's settlement queue (its
    /// span marks the handoff; the queue delivers in batches).
    static func settle(_ ticket: Admission.Ticket, charge: Charge, with admission: Admission) {
        withSpan("settlement") { span in
            span.attributes["scribes.charge"] = charge.name
            if case .cost(let cost) = charge { span.attributes["scribes.charge_usd"] = cost.usd }
            admission.settle(ticket, charge: charge)
        }
    }

    /// A lock token for a leader without an admission id (limiting off).
    static func token() -> String { RandomID.hex() }
}

extension Charge {
    var name: String {
        switch self {
        case .refund: "refund"
        case .reservation: "reservation"
        case .cost: "usage"
        }
    }
}

extension CacheState {
    var name: String {
        switch self {
        case .bypass: "bypass"
        case .hit: "hit"
        case .lead: "miss"
        case .refresh: "refresh"
        case .wait: "wait"
        }
    }
}
