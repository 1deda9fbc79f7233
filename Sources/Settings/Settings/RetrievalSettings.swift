/// How passages are found: by words, and by meaning through a sentence-embedding
/// model (the one the package ships, or an external embeddings endpoint).
public struct RetrievalSettings: Sendable, Equatable {
    public enum Mode: String, Sendable, CaseIterable {
        /// Words and meaning, fused (the default).
        case hybrid
        /// PostgreSQL full-text ranking alone: no model loaded.
        case words
    }

    public var mode: Mode
    /// The folder of the local model (model.safetensors, config.json, vocab.txt, SHA256SUMS).
    public var modelFolder: String
    /// An OpenAI-compatible embeddings API (`<url>/embeddings`) used instead of the local model.
    public var embeddingsURL: String?
    public var embeddingsModel: String?
    /// Bearer token for the embeddings API; never logged.
    public var embeddingsAPIKey: String?
    public var embeddingsTimeoutSeconds: Int
    /// The cosine a passage must reach to be found by meaning (the meaning side's relevance floor).
    public var minSimilarity: Double

    public static let defaultModelFolder = "/usr/share/scribes-assistant/models/all-MiniLM-L6-v2"
    /// Measured on the evaluation sets for all-MiniLM-L6-v2 (docs/retrieval.md).
    public static let defaultMinSimilarity = 0.5

    public init(reading reader: ConfigurationReader) throws(ConfigurationError) {
        mode = try reader.choice("RETRIEVAL_MODE", default: Mode.hybrid)
        modelFolder = reader.string("EMBEDDINGS_MODEL_DIR", default: Self.defaultModelFolder)
        embeddingsURL = try reader.optionalString("EMBEDDINGS_URL")
        embeddingsModel = try reader.optionalString("EMBEDDINGS_MODEL")
        embeddingsAPIKey = try reader.optionalString("EMBEDDINGS_API_KEY", secret: true)
        embeddingsTimeoutSeconds = try reader.int("EMBEDDINGS_TIMEOUT_SECONDS", default: 5, in: 1...120)
        minSimilarity = try reader.double("RETRIEVAL_MIN_SIMILARITY", default: Self.defaultMinSimilarity, in: 0...1)
        if let url = embeddingsURL {
            guard url.hasPrefix("https://") || url.hasPrefix("http://") else {
                throw ConfigurationError(code: .invalidValue, key: "EMBEDDINGS_URL", problem: "'\(url)' is not an http(s) URL", accepted: "an http:// or https:// URL such as http://127.0.0.1:8080/v1")
            }
            guard embeddingsModel != nil else {
                throw ConfigurationError(
                    code: .missingValue, key: "EMBEDDINGS_MODEL", problem: "is not set while EMBEDDINGS_URL is",
                    accepted: "the model the endpoint serves, e.g. BAAI/bge-small-en-v1.5")
            }
        }
    }
}
