import Primitives
import Synchronization

/// Closed → open after `failureThreshold` consecutive failures; open →
/// half-open after `resetTimeout`, when exactly one probe is let through;
/// the probe's success closes the circuit, its failure opens it again.
/// With a ``SharedCircuitState`` the circuit is one for every worker and
/// host; while that is unreachable, and without one, it is this worker's own,
/// in memory. Thread-safe.
public final class CircuitBreaker: Sendable {
    public enum State: String, Sendable, CaseIterable {
        case closed, open
        case halfOpen = "half_open"
    }

    private struct Status {
        var state = State.closed
        var failures = 0
        var openedAt: ContinuousClock.Instant
        var probeInFlight = false
    }

    let failureThreshold: Int
    let resetTimeout: Duration
    let shared: (any SharedCircuitState)?
    /// The clock (tests move one of their own).
    let now: @Sendable () -> ContinuousClock.Instant
    private let status: Mutex<Status>

    public init(
        failureThreshold: Int, resetTimeout: Duration, shared: (any SharedCircuitState)? = nil,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        self.failureThreshold = failureThreshold
        self.resetTimeout = resetTimeout
        self.shared = shared
        self.now = now
        self.status = Mutex(Status(openedAt: now()))
    }

    /// The state as health reports it.
    public var state: State {
        status.withLock { status in
            status.state == .open && now() - status.openedAt >= resetTimeout ? .halfOpen : status.state
        }
    }

    /// The state as health reports it: the shared one when it answers.
    public func currentState() async -> State {
        if let shared, let state = try? await shared.state() { return state }
        return state
    }

    /// Runs `call` unless the circuit is open, and records how it went:
    /// in the shared state when it answers, else in this worker's own.
    public func run<Value: Sendable>(_ call: () async throws -> Value) async throws -> Value {
        let token = RandomID.hex()
        let decidedInShared: Bool
        switch try? await shared?.permit(token: token) {
        case .refuse(let seconds): throw LLMError.circuitOpen(retryAfterSeconds: seconds)
        case .pass, .probe: decidedInShared = true
        case nil:
            try admit()
            decidedInShared = false
        }
        do {
            let value = try await call()
            await record(failure: false, token: token, shared: decidedInShared)
            return value
        } catch let error as LLMError where error.countsAsFailure {
            await record(failure: true, token: token, shared: decidedInShared)
            throw error
        } catch {
            await record(failure: nil, token: token, shared: decidedInShared)  // cancelled, or not the upstream's fault: no verdict
            throw error
        }
    }

    /// Records a verdict (nil: none, a probe's turn given back) where the call
    /// was decided; in this worker's own state when the shared one stops answering.
    private func record(failure: Bool?, token: String, shared decidedInShared: Bool) async {
        if decidedInShared, let shared, (try? await shared.record(failure: failure, token: token)) != nil { return }
        if let failure { record(failure: failure) } else { release() }
    }

    private func admit() throws(LLMError) {
        let now = now()
        let retryAfter: Int? = status.withLock { status in
            switch status.state {
            case .closed:
                return nil
            case .open where now - status.openedAt >= resetTimeout, .halfOpen:
                guard !status.probeInFlight else { return Self.seconds(resetTimeout) }
                status.state = .halfOpen
                status.probeInFlight = true
                return nil
            case .open:
                return Self.seconds(resetTimeout - (now - status.openedAt))
            }
        }
        if let retryAfter { throw .circuitOpen(retryAfterSeconds: retryAfter) }
    }

    private func record(failure: Bool) {
        let now = now()
        status.withLock { status in
            status.probeInFlight = false
            if failure {
                status.failures += 1
                if status.state == .halfOpen || status.failures >= failureThreshold {
                    status.state = .open
                    status.openedAt = now
                }
            } else {
                status.state = .closed
                status.failures = 0
            }
        }
    }

    private func release() {
        status.withLock { $0.probeInFlight = false }
    }

    /// Whole seconds, rounded up, at least 1.
    static func seconds(_ duration: Duration) -> Int { max(1, Int(duration.secondsRoundedUp)) }
}
