import Assistant
import CurlHTTP
import LLM
import Limits
import RedisClient
import Settings

/// The LLM provider LLM_PROVIDER names, with its prices and circuit breaker.
struct Upstream {
    let provider: any LLMProvider
    let pricing: Pricing
    let circuitState: @Sendable () async -> CircuitBreaker.State
    /// The provider's HTTP client, closed with the worker's pools.
    private let client: CurlHTTPClient?

    /// `redis`: where the breaker is shared with every worker and host.
    init(_ llm: LLMSettings, redis: RedisClient, redisTimeout: Duration) {
        guard llm.provider.isPaid, let model = llm.model else {
            (provider, pricing, circuitState, client) = (TracedProvider(LocalProvider()), .free, { .closed }, nil)
            return
        }
        let shared = RedisCircuitState(
            upstream: "\(model)@\(llm.baseURL)", redis: redis, failureThreshold: llm.breakerFailures, resetTimeout: .seconds(llm.breakerResetSeconds),
            probeTimeout: .seconds(llm.timeoutSeconds + 5), timeout: redisTimeout)
        let client = CurlHTTPClient()
        self.client = client
        let breaker = CircuitBreaker(failureThreshold: llm.breakerFailures, resetTimeout: .seconds(llm.breakerResetSeconds), shared: shared)
        provider = TracedProvider(ChatCompletionsProvider(
            configuration: .init(
                name: llm.provider.rawValue, baseURL: llm.baseURL, model: model, apiToken: llm.apiToken, timeout: .seconds(llm.timeoutSeconds),
                idleTimeout: .seconds(llm.streamIdleTimeoutSeconds)),
            client: client, breaker: breaker))
        if let input = llm.priceInputPer1K, let output = llm.priceOutputPer1K {
            pricing = .perThousandTokens(input: MicroUSD(roundingUp: input), output: MicroUSD(roundingUp: output))
        } else {
            // Configuration allows this only with LLM_ALLOW_UNPRICED (+ its reserve) or with limiting off; either way marked estimated.
            pricing = .flat(MicroUSD(roundingUp: llm.unpricedReserveUSD ?? 0))
        }
        circuitState = { await breaker.currentState() }
    }

    func close() { client?.shutdown() }
}
