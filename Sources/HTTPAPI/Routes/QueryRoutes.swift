import DurationUnits
import Assistant
import Hummingbird
import Store

/// POST /api/v1/assistant/query: the guide's query, answered from the user's notes and the library.
struct QueryRoutes {
    struct QueryRequest: Decodable {
        let query: String
    }

    struct SourceBody: Encodable {
        let kind: String
        let id: Int?
        let ref: String?
        let title: String
        let snippet: String
        let score: Double
    }

    struct Metadata: Encodable {
        let request_duration_seconds: Double
        let api_cost_usd: Double
        let cost_estimated: Bool
        let rate_limited: Bool
        let cached: Bool
        let provider: String
        let query_tokens: Int
        let context_tokens: Int
        let output_tokens: Int
    }

    struct AnswerBody: Encodable {
        let answer: String
        let sources: [SourceBody]
        let metadata: Metadata
    }

    let pipeline: QueryPipeline<RateLimitGate>
    let queryMaxCharacters: Int

    func add(to router: some RouterMethods<AppRequestContext>) {
        router.post("/api/v1/assistant/query") { request, context in
            let start = ContinuousClock.now
            let body = try await decodeJSON(QueryRequest.self, from: request, context: context)
            let question = try Question(body.query, maxCharacters: queryMaxCharacters)
            let outcome = try await pipeline.run(question, userID: try context.requireUserID())
            var response = try jsonResponse(Self.body(outcome.answer, costUSD: outcome.costUSD, seconds: (ContinuousClock.now - start).seconds))
            if let admission = outcome.ticket { pipeline.admission?.addFields(for: admission, to: &response) }
            return response
        }
    }

    static func body(_ answer: AssistantAnswer, costUSD: Double, seconds: Double) -> AnswerBody {
        AnswerBody(
            answer: answer.answer,
            sources: answer.sources.map {
                SourceBody(kind: $0.kind.rawValue, id: $0.noteID, ref: $0.ref, title: $0.title, snippet: $0.snippet, score: $0.score)
            },
            metadata: Metadata(
                request_duration_seconds: seconds, api_cost_usd: costUSD, cost_estimated: answer.costEstimated,
                rate_limited: false, cached: false, provider: answer.provider,
                query_tokens: answer.queryTokens, context_tokens: answer.contextTokens, output_tokens: answer.outputTokens))
    }
}
