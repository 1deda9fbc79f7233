import Synchronization
import Testing

@testable import LLM

/// The breaker's transitions on a clock the test moves.
@Suite struct CircuitBreakerTests {
    final class FakeClock: Sendable {
        private let instant = Mutex(ContinuousClock.now)
        func now() -> ContinuousClock.Instant { instant.withLock { $0 } }
        func advance(_ duration: Duration) { instant.withLock { $0 += duration } }
    }

    let clock = FakeClock()
    var breaker: CircuitBreaker { CircuitBreaker(failureThreshold: 3, resetTimeout: .seconds(30), now: { [clock] in clock.now() }) }

    func fail(_ breaker: CircuitBreaker, with error: LLMError = .upstreamStatus(500)) async {
        _ = try? await breaker.run { () async throws -> Int in throw error }
    }

    func succeed(_ breaker: CircuitBreaker) async throws {
        _ = try await breaker.run { 1 }
    }

    /// The error a call gets without the upstream being asked, or nil when it was asked.
    func refusal(_ breaker: CircuitBreaker) async -> LLMError? {
        let asked = Mutex(false)
        do {
            _ = try await breaker.run { asked.withLock { $0 = true } }
            return nil
        } catch let error as LLMError {
            return asked.withLock { $0 } ? nil : error
        } catch {
            return nil
        }
    }

    @Test func closedOpensAfterTheThresholdOfConsecutiveFailures() async throws {
        let breaker = breaker
        await fail(breaker)
        await fail(breaker)
        #expect(breaker.state == .closed)
        await fail(breaker)
        #expect(breaker.state == .open)
        #expect(await refusal(breaker) == .circuitOpen(retryAfterSeconds: 30))
        clock.advance(.seconds(10.5))
        #expect(await refusal(breaker) == .circuitOpen(retryAfterSeconds: 20), "Retry-After rounds the time left up")
    }

    @Test func aSuccessResetsTheFailureCount() async throws {
        let breaker = breaker
        await fail(breaker)
        await fail(breaker)
        try await succeed(breaker)
        await fail(breaker)
        await fail(breaker)
        #expect(breaker.state == .closed)
    }

    @Test func errorsThatAreNotTheUpstreamsFaultAreNoVerdict() async throws {
        let breaker = breaker
        for _ in 0..<5 { await fail(breaker, with: .rateLimited(retryAfterSeconds: 1)) }
        #expect(breaker.state == .closed)
    }

    @Test func openTurnsHalfOpenAfterTheResetTimeoutAndLetsExactlyOneProbeThrough() async throws {
        let breaker = breaker
        for _ in 0..<3 { await fail(breaker) }
        clock.advance(.seconds(30))
        #expect(breaker.state == .halfOpen)
        let probeStarted = Mutex(false)
        async let probe: Int = breaker.run {
            probeStarted.withLock { $0 = true }
            try await Task.sleep(for: .milliseconds(300))
            return 1
        }
        while !probeStarted.withLock({ $0 }) { await Task.yield() }
        #expect(await refusal(breaker) != nil, "a second call while the probe runs is refused")
        #expect(try await probe == 1)
        #expect(breaker.state == .closed, "the probe's success closes the circuit")
    }

    @Test func aFailedProbeOpensTheCircuitAgainForAWholeResetTimeout() async throws {
        let breaker = breaker
        for _ in 0..<3 { await fail(breaker) }
        clock.advance(.seconds(31))
        await fail(breaker)
        #expect(breaker.state == .open)
        #expect(await refusal(breaker) == .circuitOpen(retryAfterSeconds: 30))
    }

    /// A shared state that answers `permit` (or throws when nil) and records the verdicts it gets.
    final class FakeShared: SharedCircuitState {
        struct Unreachable: Error {}
        let permit: CircuitPermit?
        let verdicts = Mutex<[Bool?]>([])

        init(_ permit: CircuitPermit?) { self.permit = permit }

        func permit(token: String) async throws -> CircuitPermit {
            guard let permit else { throw Unreachable() }
            return permit
        }

        func record(failure: Bool?, token: String) async throws {
            guard permit != nil else { throw Unreachable() }
            verdicts.withLock { $0.append(failure) }
        }

        func state() async throws -> CircuitBreaker.State {
            guard permit != nil else { throw Unreachable() }
            return .open
        }
    }

    func breaker(shared: FakeShared) -> CircuitBreaker {
        CircuitBreaker(failureThreshold: 3, resetTimeout: .seconds(30), shared: shared, now: { [clock] in clock.now() })
    }

    @Test func theSharedStateDecidesAndGetsEveryVerdictWhileItAnswers() async throws {
        let shared = FakeShared(.pass)
        let breaker = breaker(shared: shared)
        for _ in 0..<5 { await fail(breaker) }
        try await succeed(breaker)
        await fail(breaker, with: .rateLimited(retryAfterSeconds: 1))
        #expect(shared.verdicts.withLock { $0 } == [true, true, true, true, true, false, nil])
        #expect(breaker.state == .closed, "this worker's own circuit is left alone")
        #expect(await breaker.currentState() == .open, "health shows the shared state")
        #expect(await refusal(self.breaker(shared: FakeShared(.refuse(retryAfterSeconds: 7)))) == .circuitOpen(retryAfterSeconds: 7))
    }

    @Test func withTheSharedStateUnreachableTheWorkerFallsBackToItsOwnCircuit() async throws {
        let breaker = breaker(shared: FakeShared(nil))
        for _ in 0..<3 { await fail(breaker) }
        #expect(breaker.state == .open)
        #expect(await breaker.currentState() == .open)
        #expect(await refusal(breaker) == .circuitOpen(retryAfterSeconds: 30))
    }
}
