/// The upstream model, its prices and the circuit breaker in front of it.
public struct LLMSettings: Sendable, Equatable {
    /// Which upstream answers questions.
    public enum Provider: String, Sendable, CaseIterable {
        /// HuggingFace's router (OpenAI-compatible chat completions).
        case huggingface
        /// Any OpenAI-compatible chat-completions server.
        case openai
        /// Extractive answers composed locally; free, no network.
        case local

        /// Whether calls cost money and need prices.
        public var isPaid: Bool { self != .local }
    }

    public var provider: Provider
    public var baseURL: String
    public var model: String?
    /// Bearer token for the upstream; never logged.
    public var apiToken: String?
    public var timeoutSeconds: Int
    /// The longest silence of a streamed call (LLM_STREAM_IDLE_TIMEOUT_SECONDS).
    public var streamIdleTimeoutSeconds: Int
    public var maxTokens: Int
    /// USD per 1,000 prompt / completion tokens.
    public var priceInputPer1K: Double?
    public var priceOutputPer1K: Double?
    /// Allows a paid provider without prices, reserving a flat amount per call.
    public var allowUnpriced: Bool
    public var unpricedReserveUSD: Double?
    public var breakerFailures: Int
    public var breakerResetSeconds: Int

    public static let defaultBaseURL = "https://router.huggingface.co/v1"

    public init(reading reader: ConfigurationReader) throws(ConfigurationError) {
        provider = try reader.choice("LLM_PROVIDER", default: Provider.huggingface)
        baseURL = reader.string("LLM_BASE_URL", default: Self.defaultBaseURL)
        guard baseURL.hasPrefix("https://") || baseURL.hasPrefix("http://") else {
            throw ConfigurationError(code: .invalidValue, key: "LLM_BASE_URL", problem: "'\(baseURL)' is not an http(s) URL", accepted: "an http:// or https:// URL")
        }
        model = try reader.optionalString("LLM_MODEL")
        apiToken = try reader.optionalString("HF_API_TOKEN", secret: true)
        timeoutSeconds = try reader.int("LLM_TIMEOUT_SECONDS", default: 20, in: 1...600)
        streamIdleTimeoutSeconds = try reader.int("LLM_STREAM_IDLE_TIMEOUT_SECONDS", default: 10, in: 1...600)
        maxTokens = try reader.int("LLM_MAX_TOKENS", default: 512, in: 1...32768)
        priceInputPer1K = try reader.optionalDouble("LLM_PRICE_INPUT_PER_1K", in: 0...Double.infinity)
        priceOutputPer1K = try reader.optionalDouble("LLM_PRICE_OUTPUT_PER_1K", in: 0...Double.infinity)
        allowUnpriced = try reader.bool("LLM_ALLOW_UNPRICED", default: false)
        unpricedReserveUSD = try reader.optionalDouble("LLM_UNPRICED_RESERVE_USD", in: 0.000001...Double.infinity)
        breakerFailures = try reader.int("LLM_BREAKER_FAILURES", default: 5, in: 1...1000)
        breakerResetSeconds = try reader.int("LLM_BREAKER_RESET_SECONDS", default: 30, in: 1...3600)
        if provider.isPaid && model == nil {
            throw ConfigurationError(
                code: .missingValue, key: "LLM_MODEL", problem: "is not set for LLM_PROVIDER=\(provider.rawValue)",
                accepted: "a model id such as meta-llama/Llama-3.1-8B-Instruct, or LLM_PROVIDER=local")
        }
    }

    /// Whether both prices are known.
    public var isPriced: Bool { priceInputPer1K != nil && priceOutputPer1K != nil }
}
