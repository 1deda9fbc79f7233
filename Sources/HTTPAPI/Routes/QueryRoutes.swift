import Assistant
import HTTPTypes
import Hummingbird
import Limits
import Primitives
import Store

extension HTTPField.Name {
    static let cacheStatus = Self("Cache-Status")!
}

/// The query route's body, `{"query": "..."}`, and `"stream": true` for server-sent events.
package struct QueryRequest: Decodable {
    package let query: String
    /// Absent or a boolean; `null` is refused like any other non-boolean.
    package let stream: Bool?

    enum CodingKeys: String, CodingKey { case query, stream }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        query = try container.decode(String.self, forKey: .query)
        stream = container.contains(.stream) ? try container.decode(Bool.self, forKey: .stream) : nil
    }
}

/// POST /api/v1/assistant/query: the guide's query, answered from the user's notes and the library.
struct QueryRoutes {
    let pipeline: QueryPipeline<RateLimitGate>
    let queryMaxCharacters: Int
    let metrics: WorkerMetrics

    func add(to router: some RouterMethods<AppRequestContext>) {
        router.post("/api/v1/assistant/query") { request, context in
            let start = ContinuousClock.now
            let body = try await decodeJSON(QueryRequest.self, from: request, context: context)
            let question = try Question(body.query, maxCharacters: queryMaxCharacters)
            let directives = Self.directives(request.headers[values: .cacheControl])
            let userID = try context.requireUserID()
            if body.stream == true || Self.acceptsEventStream(request.headers[values: .accept]) {
                let stream = QueryStream(routes: self, logger: context.logger, start: start)
                return try await stream.respond(question, userID: userID, directives: directives, closed: context.closed)
            }
            let outcome: QueryOutcome<Admission>
            do {
                outcome = try await pipeline.run(question, userID: userID, directives: directives)
            } catch {
                countFailure(error, since: start)
                throw error
            }
            Self.count(outcome, since: start, metrics: metrics)
            var response = Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: Self.body(outcome, seconds: (ContinuousClock.now - start).seconds)))
            response.headers[.cacheStatus] = Self.cacheStatus(outcome.cache)
            if let admission = outcome.ticket { pipeline.admission?.addFields(for: admission, to: &response) }
            return response
        }
    }

    /// Whether the client asked for server-sent events (`Accept: text/event-stream`, parameters and q aside).
    static func acceptsEventStream(_ fields: [String]) -> Bool {
        fields.flatMap { $0.split(separator: ",") }.contains { $0.prefix { $0 != ";" }.filter { !$0.isWhitespace }.lowercased() == "text/event-stream" }
    }

    func countFailure(_ error: any Error, since start: ContinuousClock.Instant) {
        metrics.countQuery(status: error is LimitRefusal ? "rate_limited" : "error", cached: false, duration: .now - start)
    }

    static func count(_ outcome: QueryOutcome<Admission>, since start: ContinuousClock.Instant, metrics: WorkerMetrics) {
        metrics.countCacheLookup(outcome.cache, saved: outcome.saved)
        if !isCached(outcome.cache) { metrics.countCompletion(outcome.answer, cost: outcome.cost) }
        metrics.countQuery(status: "success", cached: isCached(outcome.cache), duration: .now - start)
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

    /// Whether the answer came from the cache (or an identical request's computation).
    static func isCached(_ result: CacheResult) -> Bool {
        switch result {
        case .hit, .coalesced: true
        case .bypass, .directed, .miss: false
        }
    }

    /// `{"answer","sources","metadata"}`: the rendered answer (computed, or as
    /// the cache stored it) with this request's metadata after it.
    static func body(_ outcome: QueryOutcome<Admission>, seconds: Double) -> ByteBuffer {
        let json = outcome.answer.json
        let metadata = metadata(outcome, seconds: seconds)
        var body = ByteBuffer()
        body.reserveCapacity(json.utf8.count + metadata.utf8.count + 14)
        body.writeBytes(json.utf8.dropLast())  // its closing brace (the UTF-8 view: no walk over the characters)
        body.writeString(#","metadata":"# + metadata + "}")
        return body
    }

    /// This request's `metadata` object.
    static func metadata(_ outcome: QueryOutcome<Admission>, seconds: Double) -> String {
        let answer = outcome.answer
        let cached = isCached(outcome.cache)
        let fields = [
            #""request_duration_seconds":\#(JSONText.number(seconds, decimals: 6))"#,
            #""api_cost_usd":\#(outcome.cost.decimal)"#,
            #""cost_estimated":\#(!cached && answer.costEstimated)"#,
            #""rate_limited":false"#,
            #""cached":\#(cached)"#,
            #""provider":\#(JSONText.string(answer.provider))"#,
            #""query_tokens":\#(answer.queryTokens)"#,
            #""context_tokens":\#(answer.contextTokens)"#,
            #""output_tokens":\#(answer.outputTokens)"#,
        ]
        return "{" + fields.joined(separator: ",") + "}"
    }
}
