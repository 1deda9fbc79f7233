import Logging
#if canImport(Glibc)
import Glibc
#endif

/// /metrics across processes: the worker that was asked sends a request;
/// the supervisor collects every live worker's report (waiting at most
/// `gatherTimeout`), and answers with the totals.
extension Supervisor {
    struct Gather {
        let requester: pid_t
        let requestID: UInt64
        var waiting: Set<pid_t>
        let deadline: ContinuousClock.Instant
    }

    func beginGather(for requester: pid_t, id: UInt64) {
        let gather = nextGather
        nextGather += 1
        gathers[gather] = Gather(requester: requester, requestID: id, waiting: Set(controls.keys), deadline: .now + Self.gatherTimeout)
        for (pid, control) in controls where !WorkerContract.send(.metricsCollect(gather: gather), on: control) {
            gathers[gather]?.waiting.remove(pid)
        }
        finishIfComplete(gather)
    }

    func receivedReport(gather: UInt64, from pid: pid_t) {
        gathers[gather]?.waiting.remove(pid)
        finishIfComplete(gather)
    }

    /// A worker that exited will not answer: answer without it (its last report counts).
    func abandonGathers(waitingFor pid: pid_t) {
        for gather in Array(gathers.keys) {
            gathers[gather]?.waiting.remove(pid)
            finishIfComplete(gather)
        }
    }

    func finishExpiredGathers(now: ContinuousClock.Instant) {
        for (id, gather) in gathers where now >= gather.deadline {
            logger.warning("metrics: workers did not report in time; using their last reports", metadata: ["pids": "\(gather.waiting.sorted())"])
            finish(id)
        }
    }

    private func finishIfComplete(_ gather: UInt64) {
        if gathers[gather]?.waiting.isEmpty == true { finish(gather) }
    }

    private func finish(_ gather: UInt64) {
        guard let finished = gathers.removeValue(forKey: gather), let requester = controls[finished.requester] else { return }
        WorkerContract.send(.metrics(id: finished.requestID, exposition: metrics.exposition(appending: supervisorSeries())), on: requester)
    }

    /// The supervisor's own series: restarts by slot and reason, workers ready.
    private func supervisorSeries() -> String {
        var text = "# HELP scribes_worker_restarts_total Worker processes replaced, by slot and reason.\n# TYPE scribes_worker_restarts_total counter\n"
        for slot in machine.slots.indices {
            for reason in SupervisorStateMachine.RestartReason.allCases {
                text += "scribes_worker_restarts_total{slot=\"\(slot)\",reason=\"\(reason.rawValue)\"} \(machine.restarts[slot]?[reason] ?? 0)\n"
            }
        }
        text += "# HELP scribes_workers_ready Worker slots whose worker accepts connections.\n# TYPE scribes_workers_ready gauge\n"
        text += "scribes_workers_ready \(machine.readyCount)\n"
        return text
    }
}
