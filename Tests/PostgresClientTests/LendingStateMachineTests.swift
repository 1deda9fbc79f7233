import Testing

@testable import PostgresClient

/// The pool's decisions alone, with strings for connections and waiters:
/// slots, idle reuse, arrival order, deadlines, cancellation and shutdown.
@Suite struct LendingStateMachineTests {
    typealias Machine = LendingStateMachine<String, String>

    func granted(_ acquired: Machine.Acquired) -> String?? {
        if case .grant(let connection) = acquired { return .some(connection) }
        return .none
    }

    func queued(_ acquired: Machine.Acquired) -> Int? {
        if case .wait(let id) = acquired { return id }
        return nil
    }

    @Test func slotsAreGrantedUpToTheLimitThenCallersWaitInArrivalOrder() throws {
        var machine = Machine(maxConnections: 2)
        #expect(granted(machine.acquire("a")) == .some(nil), "a slot: open a connection")
        #expect(granted(machine.acquire("b")) == .some(nil))
        #expect(machine.openCount == 2)
        let c = try #require(queued(machine.acquire("c")))
        let d = try #require(queued(machine.acquire("d")))
        #expect(c != d && machine.waiting == 2)
        guard case .handOver("one", let first) = machine.release("one") else { Issue.record("not handed over"); return }
        #expect(first == "c")
        guard case .handOver(nil, let second) = machine.release(nil) else { Issue.record("the slot not handed over"); return }
        #expect(second == "d", "a broken connection's slot goes to the next in line, who opens a new one")
        #expect(machine.openCount == 2 && machine.waiting == 0)
    }

    @Test func aReturnedConnectionIsKeptIdleAndLentAgainBeforeANewOneIsOpened() {
        var machine = Machine(maxConnections: 2)
        _ = machine.acquire("a")
        guard case .done = machine.release("one") else { Issue.record("handed over to nobody"); return }
        #expect(machine.idle == ["one"] && machine.openCount == 1)
        #expect(granted(machine.acquire("b")) == .some("one"))
        #expect(machine.idle.isEmpty)
    }

    @Test func aBrokenConnectionWithNobodyWaitingFreesItsSlot() {
        var machine = Machine(maxConnections: 1)
        _ = machine.acquire("a")
        _ = machine.release(nil)
        #expect(machine.openCount == 0 && machine.idle.isEmpty)
        #expect(granted(machine.acquire("b")) == .some(nil))
    }

    @Test func aWaiterPastItsDeadlineOrCancelledLeavesTheLineOnce() throws {
        var machine = Machine(maxConnections: 1)
        _ = machine.acquire("a")
        let b = try #require(queued(machine.acquire("b")))
        let c = try #require(queued(machine.acquire("c")))
        #expect(machine.fail(waiter: b) == "b")
        #expect(machine.fail(waiter: b) == nil, "failed once")
        guard case .handOver(_, let next) = machine.release("one") else { Issue.record("not handed over"); return }
        #expect(next == "c")
        #expect(machine.fail(waiter: c) == nil, "served: its deadline finds nothing")
    }

    @Test func shutdownFailsTheLineDropsTheIdleAndRefusesLaterCallers() throws {
        var machine = Machine(maxConnections: 1)
        _ = machine.acquire("a")
        _ = try #require(queued(machine.acquire("b")))
        _ = try #require(queued(machine.acquire("c")))
        #expect(machine.shutdown() == ["b", "c"])
        #expect(machine.waiting == 0)
        guard case .shutDown = machine.acquire("d") else { Issue.record("granted after shutdown"); return }
        guard case .done = machine.release("one") else { Issue.record("handed over after shutdown"); return }
        #expect(machine.idle.isEmpty && machine.openCount == 0, "a connection returned after shutdown is closed, not kept")

        var idle = Machine(maxConnections: 1)
        _ = idle.acquire("a")
        _ = idle.release("one")
        #expect(idle.idle == ["one"])
        #expect(idle.shutdown().isEmpty && idle.idle.isEmpty)
    }
}
