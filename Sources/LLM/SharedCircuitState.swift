/// The circuit's state kept where every worker and host sees it (Redis:
/// Limits' `RedisCircuitState`), so that failures anywhere open it everywhere
/// and a half-open circuit lets exactly one probe through in all. Each call
/// throws when the state is unreachable; the breaker then decides alone.
public protocol SharedCircuitState: Sendable {
    /// Whether a call identified by `token` may go upstream.
    func permit(token: String) async throws -> CircuitPermit
    /// A call's verdict: a failure (`true`) counts toward opening, or reopens
    /// after a probe; a success (`false`) closes; nil (cancelled, not the
    /// upstream's fault) only gives a probe's turn back.
    func record(failure: Bool?, token: String) async throws
    /// The state as health reports it.
    func state() async throws -> CircuitBreaker.State
}

/// What the shared circuit allows one call.
public enum CircuitPermit: Sendable, Equatable {
    case pass
    /// Half-open, and this call is the one probe.
    case probe
    case refuse(retryAfterSeconds: Int)
}
