import CurlHTTP
import FoundationEssentials

/// An external embeddings endpoint that speaks OpenAI's `POST /v1/embeddings`
/// (also served by text-embeddings-inference, vLLM and Ollama), for operators
/// who want a larger model than the one the package ships. Its vectors are
/// named `remote:<model>` and L2-normalised here, since not every server
/// normalises.
public struct RemoteEmbeddings: SentenceEmbedder {
    public struct Configuration: Sendable {
        /// The API's base URL, e.g. `http://127.0.0.1:8080/v1`; requests go to `<url>/embeddings`.
        public var url: String
        public var model: String
        /// Sent as `Authorization: Bearer <key>` when set.
        public var apiKey: String?
        public var timeout: Duration

        public init(url: String, model: String, apiKey: String?, timeout: Duration) {
            self.url = url
            self.model = model
            self.apiKey = apiKey
            self.timeout = timeout
        }
    }

    struct Body: Encodable {
        let model: String
        let input: [String]
    }

    struct Reply: Decodable {
        struct Item: Decodable {
            let embedding: [Float]
            let index: Int?
        }
        let data: [Item]
    }

    let configuration: Configuration
    let client: CurlHTTPClient

    public var model: String { "remote:" + configuration.model }

    public init(_ configuration: Configuration, client: CurlHTTPClient) {
        self.configuration = configuration
        self.client = client
    }

    public func embed(_ texts: [String]) async throws(EmbeddingError) -> [[Float]] {
        guard !texts.isEmpty else { return [] }
        var headers = [(name: "Content-Type", value: "application/json")]
        if let key = configuration.apiKey { headers.append((name: "Authorization", value: "Bearer " + key)) }
        let endpoint = (configuration.url.hasSuffix("/") ? String(configuration.url.dropLast()) : configuration.url) + "/embeddings"
        let response: CurlHTTPClient.Response
        do {
            let body = try JSONEncoder().encode(Body(model: configuration.model, input: texts))
            response = try await client.execute(.init(url: endpoint, headers: headers, body: Array(body), totalTimeout: configuration.timeout, maxResponseBytes: 64 << 20))
        } catch {
            throw EmbeddingError(code: .upstream, message: "embeddings endpoint \(endpoint): \(error)")
        }
        guard response.status == 200 else {
            throw EmbeddingError(code: .upstream, message: "embeddings endpoint \(endpoint) answered HTTP \(response.status)")
        }
        guard let reply = try? JSONDecoder().decode(Reply.self, from: Data(response.body)), reply.data.count == texts.count else {
            throw EmbeddingError(code: .upstream, message: "embeddings endpoint \(endpoint) answered without one embedding per input")
        }
        let ordered = reply.data.enumerated().sorted { ($0.element.index ?? $0.offset) < ($1.element.index ?? $1.offset) }
        return ordered.map { Self.normalized($0.element.embedding) }
    }

    static func normalized(_ vector: [Float]) -> [Float] {
        let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return norm > 0 ? vector.map { $0 / norm } : vector
    }
}
