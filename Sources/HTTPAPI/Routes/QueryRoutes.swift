import DurationUnits
import Assistant
import HTTPTypes
import Hummingbird
import Limits
import Store

/// POST /api/v1/assistant/query: the guide's query, answered from the user's notes and the library.
extension HTTPField.Name {
    static let cacheStatus = Self("Cache-Status")!
}

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
    let metrics: WorkerMetrics

    func add(to router: some RouterMethods<AppRequestContext>) {
        router.post("/api/v1/assistant/query") { request, context in
            let start = ContinuousClock.now
            let body = try await decodeJSON(QueryRequest.self, from: request, context: context)
            let question = try Question(body.query, maxCharacters: queryMaxCharacters)
            let directives = Self.directives(request.headers[values: .cacheControl])
            let outcome = try await pipeline.run(question, userID: try context.requireUserID(), directives: directives)
            metrics.countCacheLookup(outcome.cache, savedUSD: outcome.savedUSD)
            var response = try jsonResponse(Self.body(outcome, seconds: (ContinuousClock.now - start).seconds))
            response.headers[.cacheStatus] = Self.cacheStatus(outcome.cache)
            if let admission = outcome.ticket { pipeline.admission?.addFields(for: admission, to: &response) }
            return response
        }
    }

    /// The request's `Cache-Control` directives that the answer cache honours (arguments and others ignored).
    static func directives(_ fields: [String]) -> CacheDirectives {
        let names = fields.flatMap { $0.split(separator: ",") }.map { String($0.prefix { $0 != "=" }.filter { !$0.isWhitespace }).lowercased() }
        return CacheDirectives(noCache: names.contains("no-cache"), noStore: names.contains("no-store"))
    }

    /// The RFC 9211 `Cache-Status` field: a hit with its remaining ttl, or why
    /// the answer was forwarded upstream and whether it was stored.
    static func cacheStatus(_ result: CacheResult) -> String {
        let parameters = switch result {
        case .bypass: "fwd=bypass"
        case .directed(let stored): stored ? "fwd=request; stored" : "fwd=request"
        case .hit(let ttl): "hit; ttl=\(ttl)"
        case .coalesced: "fwd=miss; collapsed"
        case .miss(let stored): stored ? "fwd=miss; stored" : "fwd=miss"
        }
        return "scribes-assistant; " + parameters
    }

    static func body(_ outcome: QueryOutcome<Admission>, seconds: Double) -> AnswerBody {
        let (answer, costUSD) = (outcome.answer, outcome.costUSD)
        let cached = switch outcome.cache {
        case .hit, .coalesced: true
        case .bypass, .directed, .miss: false
        }
        return AnswerBody(
            answer: answer.answer,
            sources: answer.sources.map {
                SourceBody(kind: $0.kind.rawValue, id: $0.noteID, ref: $0.ref, title: $0.title, snippet: $0.snippet, score: $0.score)
            },
            metadata: Metadata(
                request_duration_seconds: seconds, api_cost_usd: costUSD, cost_estimated: !cached && answer.costEstimated,
                rate_limited: false, cached: cached, provider: answer.provider,
                query_tokens: answer.queryTokens, context_tokens: answer.contextTokens, output_tokens: answer.outputTokens))
    }
}
