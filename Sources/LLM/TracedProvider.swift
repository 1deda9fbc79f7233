import Primitives
import Synchronization
import Tracing

/// A provider whose every call is a client span named and attributed as
/// OpenTelemetry's GenAI conventions say (`chat {model}`, the model, the
/// tokens used, `error.type`). The span is the task's current one while the
/// call runs, so an HTTP provider sends it as the request's `traceparent`.
public struct TracedProvider: LLMProvider {
    let base: any LLMProvider

    public init(_ base: any LLMProvider) {
        self.base = base
    }

    public var name: String { base.name }
    public var model: String { base.model }

    public func complete(_ request: CompletionRequest, pieces: TextPieces?) async throws -> Completion {
        try await withSpan("chat \(base.model)", ofKind: .client) { span in
            span.attributes["gen_ai.operation.name"] = "chat"
            span.attributes["gen_ai.provider.name"] = base.name
            span.attributes["gen_ai.request.model"] = base.model
            span.attributes["gen_ai.request.max_tokens"] = request.maxTokens
            do {
                let completion = try await base.complete(request, pieces: pieces.map { Self.markingFirstPiece(of: $0, on: span) })
                span.attributes["gen_ai.usage.input_tokens"] = completion.promptTokens
                span.attributes["gen_ai.usage.output_tokens"] = completion.completionTokens
                return completion
            } catch let error as LLMError {
                span.attributes["error.type"] = error.kind
                throw error
            }
        }
    }
}

extension TracedProvider {
    /// `pieces`, with the first one's arrival an event of `span` (the time to the first token).
    static func markingFirstPiece(of pieces: @escaping TextPieces, on span: any Span) -> TextPieces {
        let start = ContinuousClock.now
        let seen = Atomic(false)
        return { piece in
            if !seen.exchange(true, ordering: .relaxed) {
                span.addEvent(SpanEvent(name: "first token", attributes: ["scribes.first_token_seconds": .double((ContinuousClock.now - start).seconds)]))
            }
            pieces(piece)
        }
    }
}

extension LLMError {
    /// A short, bounded name for metrics labels and span attributes.
    public var kind: String {
        switch self {
        case .circuitOpen: "circuit_open"
        case .rateLimited: "rate_limited"
        case .timedOut: "timeout"
        case .upstreamStatus(let status): "\(status)"
        case .upstreamFailed: "upstream_failed"
        case .unreachable: "unreachable"
        }
    }
}

/// Writes the current trace context into an outgoing request's headers (`traceparent`, `tracestate`).
struct HeaderInjector: Injector {
    func inject(_ value: String, forKey key: String, into headers: inout [(name: String, value: String)]) {
        headers.append((name: key, value: value))
    }
}
