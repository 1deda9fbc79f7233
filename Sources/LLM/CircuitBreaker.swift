import DurationUnits
import Synchronization

/// Closed → open after `failureThreshold` consecutive failures; open →
/// half-open after `resetTimeout`, when exactly one probe is let through;
/// the probe's success closes the circuit, its failure opens it again.
/// With a ``SharedCircuitState`` the circuit is one for every worker and
/// host; while that is unreachable, and without one, it is this worker's own,
/// in memory. Thread-safe.
public final class CircuitBreaker: Sendable {
    public enum State: String, Sendable {
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

    /// Runs `call` unless the circuit is open, and records how it went.
    public func run<Value: Sendable>(_ call: () async throws -> Value) async throws -> Value {
        let token = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        if let shared, let permit = try? await shared.permit(token: token) {
            if case .refuse(let seconds) = permit { throw LLMError.circuitOpen(retryAfterSeconds: seconds) }
            do {
                let value = try await call()
                await record(shared, failure: false, token: token)
                return value
            } catch let error as LLMError where error.countsAsFailure {
                await record(shared, failure: true, token: token)
                throw error
            } catch {
                await record(shared, failure: nil, token: token)
                throw error
            }
        }
        try admit()
        do {
            let value = try await call()
            record(failure: false)
            return value
        } catch let error as LLMError where error.countsAsFailure {
            record(failure: true)
            throw error
        } catch {
            release()  // cancelled, or not the upstream's fault: no verdict
            throw error
        }
    }

    /// Records a verdict in the shared state, or in this worker's own when that is unreachable.
    private func record(_ shared: any SharedCircuitState, failure: Bool?, token: String) async {
        guard (try? await shared.record(failure: failure, token: token)) == nil else { return }
        if let failure { record(failure: failure) }
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
