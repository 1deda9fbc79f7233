import LLM

/// What an admitted query ends up costing.
public enum QueryCharge: Sendable, Equatable {
    /// Nothing: no upstream call was made, or the upstream refused it without billing.
    case refund
    /// The whole reservation: the call may have been billed but its usage is unknown.
    case reservation
    /// What the upstream's usage says the call cost (USD).
    case usd(Double)
}

/// What the pipeline needs from the rate limiter (HTTPAPI's `RateLimitGate`
/// over Limits' `RateLimiter`; a fake in tests).
public protocol QueryAdmission: Sendable {
    /// Proof of an admission: what `settle` and `keepAlive` take.
    associatedtype Ticket: Sendable
    /// Admits `userID` with `reservation` USD held against the budgets, or throws the refusal.
    func admit(userID: Int, reserving reservation: Double) async throws -> Ticket
    /// Keeps the ticket's concurrency lease alive until the task is cancelled.
    func keepAlive(_ ticket: Ticket) async
    /// Gives the lease back and charges `charge`. Never waits; idempotent.
    func settle(_ ticket: Ticket, charge: QueryCharge)
}

/// What the pipeline needs from the assistant (``AssistantService``; a fake in tests).
public protocol Answering: Sendable {
    /// The most an answer to `question` can cost (USD), reserved before it runs.
    func reservation(for question: Question) -> Double
    /// The passages for `question`: free.
    func retrieve(_ question: Question, userID: Int) async throws -> Retrieval
    /// The provider's answer: from here the call may be billed.
    func answer(_ retrieval: Retrieval) async throws -> AssistantAnswer
}

extension AssistantService: Answering {}

/// An answered query: the answer, what it was charged, and its admission (nil with limiting off).
public struct QueryOutcome<Ticket: Sendable>: Sendable {
    public let answer: AssistantAnswer
    /// What the budgets are charged and the answer reports: without usage, at least the reservation.
    public let costUSD: Double
    public let ticket: Ticket?
}

/// A query from question to answer: admit (reserving the worst case),
/// retrieve, answer, settle, with the lease kept alive meanwhile. It alone
/// decides what a query is charged; the HTTP layer maps its errors and
/// outcome to responses. The answer cache plugs in before admission.
public struct QueryPipeline<Admission: QueryAdmission>: Sendable {
    let answering: any Answering
    /// nil when RATE_LIMITING_ENABLED=false: nothing is admitted or settled.
    public let admission: Admission?

    public init(answering: any Answering, admission: Admission?) {
        self.answering = answering
        self.admission = admission
    }

    /// Answers `question` for `userID`. Throws the admission's refusal, or
    /// what retrieval or the provider threw (the budgets charged as the
    /// failure deserves: nothing before the upstream call or when it refused,
    /// the reservation when it was cut short).
    public func run(_ question: Question, userID: Int) async throws -> QueryOutcome<Admission.Ticket> {
        let reservation = answering.reservation(for: question)
        var charge = QueryCharge.refund
        guard let admission else {
            let (answer, cost) = try await answer(question, userID: userID, reservation: reservation, charge: &charge)
            return QueryOutcome(answer: answer, costUSD: cost, ticket: nil)
        }
        let ticket = try await admission.admit(userID: userID, reserving: reservation)
        defer { admission.settle(ticket, charge: charge) }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await admission.keepAlive(ticket) }
            defer { group.cancelAll() }
            let (answer, cost) = try await answer(question, userID: userID, reservation: reservation, charge: &charge)
            return QueryOutcome(answer: answer, costUSD: cost, ticket: ticket)
        }
    }

    /// Retrieves and answers, keeping `charge` what the query costs at each step.
    private func answer(_ question: Question, userID: Int, reservation: Double, charge: inout QueryCharge) async throws -> (AssistantAnswer, Double) {
        let retrieval = try await answering.retrieve(question, userID: userID)
        charge = .reservation  // from here the provider may bill the call
        let answer: AssistantAnswer
        do {
            answer = try await answering.answer(retrieval)
        } catch let error as LLMError where !error.mayHaveBeenBilled {
            charge = .refund
            throw error
        }
        // Without usage the reservation is what is charged, and what the answer reports.
        let cost = answer.costEstimated ? max(reservation, answer.costUSD) : answer.costUSD
        charge = .usd(cost)
        return (answer, cost)
    }
}
