import CurlHTTP
import FoundationEssentials
import Tracing

/// An OpenAI-compatible chat-completions upstream (`POST {base}/chat/completions`):
/// HuggingFace's router (`LLM_PROVIDER=huggingface`), OpenAI, or a TGI,
/// vLLM or llama.cpp server (`openai`). Calls go through a circuit breaker.
public struct ChatCompletionsProvider: LLMProvider {
    public struct Configuration: Sendable {
        public var name: String
        public var baseURL: String
        public var model: String
        /// Sent as `Authorization: Bearer …`; never logged.
        public var apiToken: String?
        /// The whole call.
        public var timeout: Duration
        /// A streamed call fails after this long without a byte (LLM_STREAM_IDLE_TIMEOUT_SECONDS).
        public var idleTimeout: Duration

        public init(name: String, baseURL: String, model: String, apiToken: String?, timeout: Duration, idleTimeout: Duration = .seconds(10)) {
            self.name = name
            self.baseURL = baseURL
            self.model = model
            self.apiToken = apiToken
            self.timeout = timeout
            self.idleTimeout = idleTimeout
        }
    }

    let configuration: Configuration
    let client: CurlHTTPClient
    public let breaker: CircuitBreaker

    public var name: String { configuration.name }
    public var model: String { configuration.model }

    /// Seconds a 429 without Retry-After asks callers to wait.
    static let defaultRetryAfter = 5

    public init(configuration: Configuration, client: CurlHTTPClient, breaker: CircuitBreaker) {
        self.configuration = configuration
        self.client = client
        self.breaker = breaker
    }

    public func complete(_ request: CompletionRequest, pieces: TextPieces?) async throws -> Completion {
        let chat = ChatRequest(
            model: configuration.model, messages: Prompt.messages(for: request), max_tokens: request.maxTokens,
            stream: pieces == nil ? nil : true, stream_options: pieces == nil ? nil : .init(include_usage: true))
        var headers = [(name: "Content-Type", value: "application/json"), (name: "Accept", value: pieces == nil ? "application/json" : "text/event-stream")]
        if let token = configuration.apiToken { headers.append((name: "Authorization", value: "Bearer \(token)")) }
        if let context = InstrumentationContext.current { InstrumentationSystem.instrument.inject(context, into: &headers, using: HeaderInjector()) }
        var httpRequest = CurlHTTPClient.Request(
            url: configuration.baseURL.trimmingSuffix("/") + "/chat/completions", headers: headers, body: Array(try JSONEncoder().encode(chat)),
            connectTimeout: min(configuration.timeout, .seconds(5)), totalTimeout: configuration.timeout, responseHeaders: ["Retry-After"])
        guard let pieces else { return try await breaker.run { try Self.completion(from: try await send(httpRequest)) } }
        let stream = ChatStream(pieces: pieces)
        httpRequest.onSuccessBody = { stream.read($0) }
        let streamed = httpRequest
        let idleTimeout = configuration.idleTimeout
        return try await breaker.run {
            // The transfer, raced by a watch on its silences: the first to end cancels the other.
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { _ = try await send(streamed) }
                group.addTask {
                    try await stream.waitForSilence(longerThan: idleTimeout)
                    throw LLMError.timedOut
                }
                defer { group.cancelAll() }
                try await group.next()
            }
            return try stream.completion()
        }
    }

    /// The 2xx response's body (empty when streamed), or the upstream's failure as an ``LLMError``.
    private func send(_ request: CurlHTTPClient.Request) async throws -> [UInt8] {
        let response: CurlHTTPClient.Response
        do {
            response = try await client.execute(request)
        } catch let error as CurlHTTPError {
            switch error {
            case .timedOut: throw LLMError.timedOut
            case .connectionFailed: throw LLMError.unreachable("\(error)")
            default: throw LLMError.upstreamFailed("\(error)")
            }
        }
        switch response.status {
        case 200..<300:
            return response.body
        case 429:
            throw LLMError.rateLimited(retryAfterSeconds: response.headers["Retry-After"].flatMap { Int($0.trimmingSpaces) }.map { max(1, $0) } ?? Self.defaultRetryAfter)
        default:
            throw LLMError.upstreamStatus(response.status)
        }
    }

    static func completion(from body: [UInt8]) throws(LLMError) -> Completion {
        guard let reply = try? JSONDecoder().decode(ChatReply.self, from: Data(body)),
              let text = reply.choices.first?.message.content, !text.isEmpty
        else { throw .upstreamFailed("the reply is not a chat completion") }
        return Completion(text: text, promptTokens: reply.usage?.prompt_tokens, completionTokens: reply.usage?.completion_tokens)
    }

    struct ChatRequest: Encodable {
        struct StreamOptions: Encodable { let include_usage: Bool }
        let model: String
        let messages: [Prompt.Message]
        let max_tokens: Int
        /// Absent unless streaming: the JSON call's body is what it always was.
        let stream: Bool?
        let stream_options: StreamOptions?
    }

    struct ChatReply: Decodable {
        struct Choice: Decodable {
            struct Message: Decodable { let content: String? }
            let message: Message
        }
        struct Usage: Decodable {
            let prompt_tokens: Int?
            let completion_tokens: Int?
        }
        let choices: [Choice]
        let usage: Usage?
    }
}

/// The messages every chat upstream gets: instructions, the numbered passages, the question.
public enum Prompt {
    /// Bumped whenever the instructions or the messages' shape change: cached answers to the old prompt are not served.
    public static let version = 1

    struct Message: Encodable, Equatable {
        let role: String
        let content: String
    }

    static let instructions = """
        You answer questions about the user's sermon notes and the scriptures. Answer only from the numbered \
        passages below; cite each passage you use as [n]. If the passages do not answer the question, say so \
        briefly instead of guessing.
        """

    static func messages(for request: CompletionRequest) -> [Message] {
        let passages = request.passages.enumerated().map { "[\($0.offset + 1)] \($0.element.label): \($0.element.text)" }
        let context = passages.isEmpty ? "(no passages were found)" : passages.joined(separator: "\n\n")
        return [
            Message(role: "system", content: instructions),
            Message(role: "user", content: "Passages:\n\(context)\n\nQuestion: \(request.question)"),
        ]
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        var text = self
        while text.hasSuffix(suffix) { text.removeLast(suffix.count) }
        return text
    }

    var trimmingSpaces: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
