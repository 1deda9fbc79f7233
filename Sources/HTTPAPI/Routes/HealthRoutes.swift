import Hummingbird
import LLM
import Logging
import PostgresClient
import RedisClient
import ServerCore

/// GET /api/v1/assistant/health: Redis and PostgreSQL, each checked with a
/// short deadline; never the LLM. 200 when healthy or degraded (Redis down:
/// limits fail open), 503 when unhealthy (no database) or draining (stopping).
struct HealthRoutes {
    struct HealthBody: Encodable {
        let status: String
        let checks: [String: String]
    }

    let redis: RedisClient
    let database: PostgresConnectionPool
    let drain: DrainState
    /// The circuit breaker's state (`closed` for the local provider).
    let llmCircuit: @Sendable () async -> CircuitBreaker.State
    /// `retrieval` and, with meaning on, `meaning_index` and `meaning_vectors`.
    let retrieval: @Sendable () -> [String: String]
    let deadline: Duration

    func add(to router: Router<AppRequestContext>) {
        router.get("/api/v1/assistant/health") { _, context in
            async let redisUp = redis.isHealthy(timeout: deadline)
            async let databaseUp = database.isHealthy(timeout: deadline)
            async let circuit = llmCircuit()
            let (redisOK, databaseOK, circuitState) = await (redisUp, databaseUp, circuit)
            let draining = drain.isDraining
            let status = draining ? "draining" : !databaseOK ? "unhealthy" : !redisOK ? "degraded" : "healthy"
            if status != "healthy" { context.logger.debug("health", metadata: ["status": "\(status)", "redis": "\(redisOK)", "database": "\(databaseOK)"]) }
            let checks = [
                "assistant_service": "available",
                "redis": redisOK ? "connected" : "disconnected",
                "database": databaseOK ? "connected" : "disconnected",
                "llm_circuit": circuitState.rawValue,
            ].merging(retrieval()) { first, _ in first }
            let body = HealthBody(status: status, checks: checks)
            return try jsonResponse(body, status: databaseOK && !draining ? .ok : .serviceUnavailable)
        }
    }
}
