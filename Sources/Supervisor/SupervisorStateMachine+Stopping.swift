import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Stopping (SIGTERM, SIGINT): drain, terminate, kill at the deadline, exit.
extension SupervisorStateMachine {
    /// SIGTERM or SIGINT: workers report `draining` for SHUTDOWN_DELAY, then
    /// get SIGTERM and finish their requests within GRACEFUL_TIMEOUT.
    mutating func stop(signal: CInt, now: ContinuousClock.Instant) -> [Action] {
        guard !isStopping else { return [] }
        let terminateAt = now + policy.shutdownDelay
        phase = .stopping(terminateAt: terminateAt, deadline: terminateAt + policy.gracefulTimeout + Self.exitMargin)
        replacements = []
        var actions: [Action] = [.log(.notice, "stopping: draining workers", ["signal": "\(signal)"]), .notify(.stopping)]
        for slot in slots.indices {
            slots[slot].restartAt = nil
            if let successor = slots[slot].successor {
                slots[slot].successor = nil
                actions += retire(successor, now: now)
            }
        }
        return actions + allWorkers.map { .send(.drain, to: $0.pid) }
    }

    mutating func tickStopping(terminateAt: ContinuousClock.Instant?, deadline: ContinuousClock.Instant, now: ContinuousClock.Instant) -> [Action] {
        var actions: [Action] = []
        if let terminateAt, now >= terminateAt {
            phase = .stopping(terminateAt: nil, deadline: deadline)
            for slot in slots.indices {
                if let worker = slots[slot].worker { actions += retire(worker, now: now) }
                slots[slot].worker = nil
            }
        }
        if allWorkers.isEmpty { return actions + [.log(.notice, "stopped", [:]), .exit(0)] }
        if now >= deadline { actions += allWorkers.map { .signal($0.pid, SIGKILL) } }
        return actions
    }
}
