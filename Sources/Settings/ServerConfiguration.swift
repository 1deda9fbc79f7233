/// Everything `serve` needs, read and validated once, then passed down as
/// typed values (nothing below the executable reads the environment).
public struct ServerConfiguration: Sendable, Equatable {
    public var server: ServerSettings
    public var redis: RedisSettings
    public var database: DatabaseSettings
    public var auth: AuthSettings
    public var llm: LLMSettings
    public var limits: LimitSettings
    public var answers: AnswerSettings
    public var retrieval: RetrievalSettings
    public var observability: ObservabilitySettings

    /// Reads every key, then checks the rules that span keys.
    /// - Parameter cpuCount: the default for `WORKERS`.
    /// - Throws: ``ConfigurationError`` for the first key at fault.
    public init(reading reader: ConfigurationReader, cpuCount: Int) throws(ConfigurationError) {
        server = try ServerSettings(reading: reader, cpuCount: cpuCount)
        redis = try RedisSettings(reading: reader)
        database = try DatabaseSettings(reading: reader)
        auth = try AuthSettings(reading: reader)
        llm = try LLMSettings(reading: reader)
        limits = try LimitSettings(reading: reader)
        answers = try AnswerSettings(reading: reader)
        retrieval = try RetrievalSettings(reading: reader)
        observability = try ObservabilitySettings(reading: reader)
        try checkCrossKeyRules()
    }

    private func checkCrossKeyRules() throws(ConfigurationError) {
        let minimumGrace = llm.timeoutSeconds + 5
        if server.gracefulTimeout < minimumGrace {
            throw ConfigurationError(
                code: .conflict, key: "GRACEFUL_TIMEOUT",
                problem: "\(server.gracefulTimeout) is shorter than LLM_TIMEOUT_SECONDS + 5 = \(minimumGrace), so a stop could cut a paid call",
                accepted: "an integer of at least \(minimumGrace) (or a lower LLM_TIMEOUT_SECONDS)")
        }
        if llm.allowUnpriced && llm.unpricedReserveUSD == nil {
            throw ConfigurationError(
                code: .missingValue, key: "LLM_UNPRICED_RESERVE_USD", problem: "is not set while LLM_ALLOW_UNPRICED=true",
                accepted: "the USD to reserve and charge per unpriced call, greater than 0")
        }
        // A budget can only be enforced when every call has a known worst-case cost.
        if llm.provider.isPaid && limits.enabled && !llm.isPriced && !llm.allowUnpriced {
            let missing = llm.priceInputPer1K == nil ? "LLM_PRICE_INPUT_PER_1K" : "LLM_PRICE_OUTPUT_PER_1K"
            throw ConfigurationError(
                code: .missingValue, key: missing,
                problem: "is not set for the paid provider \(llm.provider.rawValue) while cost budgets are enforced",
                accepted: "USD per 1,000 tokens for both LLM_PRICE_INPUT_PER_1K and LLM_PRICE_OUTPUT_PER_1K, or LLM_ALLOW_UNPRICED=true with LLM_UNPRICED_RESERVE_USD")
        }
    }
}
