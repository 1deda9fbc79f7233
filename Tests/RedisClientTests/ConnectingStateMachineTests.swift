import Testing

@testable import RedisClient

/// The Redis pool's decisions alone, with fake connections and a clock the
/// test sets: the least loaded connection, a second opened only when the
/// first is busy, one attempt at a time, backoff after failures, stalls,
/// waiters served by the attempt's end, shutdown.
@Suite struct ConnectingStateMachineTests {
    struct FakeConnection: PooledConnection, Equatable {
        var name: String
        var load = 0
        var isActive = true
        var isStalled = false
    }

    typealias Machine = ConnectingStateMachine<FakeConnection, String>
    let start = ContinuousClock.now

    func machine(max: Int = 2) -> Machine {
        Machine(maxConnections: max, backoff: .milliseconds(50)...Duration.milliseconds(200))
    }

    func connected(_ machine: inout Machine, _ connection: FakeConnection) {
        guard case .open = machine.choose(failFast: true, now: start) else { Issue.record("no attempt"); return }
        _ = machine.finishConnecting(.success(connection), now: start)
    }

    @Test func theFirstCallOpensTheOthersWaitForThatOneAttemptAndAreServedByIt() {
        var pool = machine()
        guard case .open = pool.choose(failFast: true, now: start) else { Issue.record("no attempt"); return }
        guard case .wait = pool.choose(failFast: true, now: start) else { Issue.record("a second attempt while one is in flight"); return }
        guard case .queued = pool.wait("b") else { Issue.record("not queued"); return }
        let finished = pool.finishConnecting(.success(FakeConnection(name: "one")), now: start)
        #expect(finished.waiters == ["b"] && finished.firstConnection && !finished.wasFailing)
        #expect(pool.waiting == 0 && pool.open.map(\.name) == ["one"])
    }

    @Test func anIdleConnectionIsUsedAndABusyOneGetsACompanionUpToTheLimit() {
        var pool = machine(max: 2)
        connected(&pool, FakeConnection(name: "one"))
        guard case .use(let idle) = pool.choose(failFast: true, now: start) else { Issue.record("not used"); return }
        #expect(idle.name == "one")
        var busy = machine(max: 2)
        connected(&busy, FakeConnection(name: "one", load: 3))
        guard case .useAndOpen(let used) = busy.choose(failFast: true, now: start) else { Issue.record("no companion"); return }
        #expect(used.name == "one")
        _ = busy.finishConnecting(.success(FakeConnection(name: "two", load: 1)), now: start)
        guard case .use(let least) = busy.choose(failFast: true, now: start) else { Issue.record("not used"); return }
        #expect(least.name == "two", "the least loaded")
        guard case .use = busy.choose(failFast: true, now: start) else { Issue.record("a third beyond the limit"); return }
    }

    @Test func aFailedAttemptFailsItsWaitersAndTheNextWaitsOutADoublingBackoff() {
        var pool = machine()
        _ = pool.choose(failFast: true, now: start)
        _ = pool.wait("b")
        let refused = RedisError(code: .connectionFailed, message: "refused")
        let first = pool.finishConnecting(.failure(refused), now: start)
        #expect(first.waiters == ["b"] && !first.wasFailing)
        guard case .fail(let error) = pool.choose(failFast: true, now: start + .milliseconds(49)) else { Issue.record("retried within the backoff"); return }
        #expect(error.message == "refused")
        guard case .open = pool.choose(failFast: true, now: start + .milliseconds(50)) else { Issue.record("no retry after the backoff"); return }
        let second = pool.finishConnecting(.failure(refused), now: start + .milliseconds(50))
        #expect(second.wasFailing, "logged once, not at every attempt")
        guard case .fail = pool.choose(failFast: true, now: start + .milliseconds(149)) else { Issue.record("the backoff did not double"); return }
        guard case .open = pool.choose(failFast: true, now: start + .milliseconds(150)) else { Issue.record("no retry"); return }
        _ = pool.finishConnecting(.success(FakeConnection(name: "one")), now: start + .milliseconds(150))
        guard case .use = pool.choose(failFast: true, now: start + .milliseconds(150)) else { Issue.record("not reconnected"); return }
    }

    @Test func aWaiterArrivingAfterTheAttemptEndedIsSettledNotQueued() {
        var pool = machine()
        _ = pool.choose(failFast: true, now: start)
        _ = pool.finishConnecting(.failure(RedisError(code: .connectionFailed, message: "refused")), now: start)
        guard case .settled(.failure) = pool.wait("late") else { Issue.record("queued with nothing in flight"); return }
        let later = start + .milliseconds(50)  // past the backoff
        guard case .open = pool.choose(failFast: true, now: later) else { Issue.record("no retry"); return }
        _ = pool.finishConnecting(.success(FakeConnection(name: "one")), now: later)
        guard case .settled(.success(let connection)) = pool.wait("later") else { Issue.record("not settled"); return }
        #expect(connection.name == "one")
    }

    @Test func aStalledConnectionFailsFastCallsButNotQueuedOnes() {
        var pool = machine()
        connected(&pool, FakeConnection(name: "one", isStalled: true))
        guard case .fail(let error) = pool.choose(failFast: true, now: start) else { Issue.record("not failed fast"); return }
        #expect(error.code == .timeout)
        guard case .use = pool.choose(failFast: false, now: start) else { Issue.record("a settlement was not sent"); return }
    }

    @Test func aWaiterPastItsDeadlineLeavesOnceAndShutdownReturnsTheRest() {
        var pool = machine()
        _ = pool.choose(failFast: true, now: start)
        guard case .queued(let b) = pool.wait("b"), case .queued = pool.wait("c") else { Issue.record("not queued"); return }
        #expect(pool.fail(waiter: b) == "b" && pool.fail(waiter: b) == nil)
        let (connections, waiters) = pool.shutdown()
        #expect(connections.isEmpty && waiters == ["c"])
        guard case .fail(let error) = pool.choose(failFast: true, now: start) else { Issue.record("served after shutdown"); return }
        #expect(error.code == .shutDown)
        #expect(pool.finishConnecting(.success(FakeConnection(name: "late")), now: start).closeAgain, "an attempt that ends after shutdown is closed")
    }
}
