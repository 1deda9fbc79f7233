import Logging
import Primitives

#if canImport(Glibc)
import Glibc
#endif

/// Every decision of the supervisor, without processes or descriptors: it
/// takes events (a worker spawned, ready, heartbeating, exited; a signal; the
/// timer) and returns the actions to carry out (spawn a slot's worker, signal
/// a pid, send a message, notify systemd, exit). ``Supervisor`` turns file
/// descriptors into events and carries out the actions; the tests drive this
/// type alone, on a clock of their own.
///
/// Phases: running, reloading (one slot at a time; a SIGHUP meanwhile runs
/// once this reload is done), stopping (draining, then SIGTERM, then SIGKILL
/// at the deadline). Slots restart on their own: at once after a crash, with
/// capped exponential backoff while a worker keeps failing to boot, and the
/// supervisor gives up when every slot has failed ``haltAfterFailures`` boots
/// in a row. A live worker covers a slot that has no ready worker.
struct SupervisorStateMachine {
    struct Worker: Equatable {
        let pid: pid_t
        let slot: Int
        let startedAt: ContinuousClock.Instant
        var isReady = false
        var lastHeartbeat: ContinuousClock.Instant
        /// Other slots whose sockets this worker also accepts on.
        var covering: Set<Int> = []
        /// Set once the worker is told to stop: when it is killed if still alive.
        var killAt: ContinuousClock.Instant?
        /// Why the slot restarts when this worker exits: crashed, unless the supervisor killed it.
        var exitReason: RestartReason = .crashed
    }

    struct Slot: Equatable {
        var worker: Worker?
        /// A replacement starting while `worker` still serves (reload, recycling).
        var successor: Worker?
        /// Consecutive boot failures.
        var quickFailures = 0
        var restartAt: ContinuousClock.Instant?
    }

    enum RestartReason: String, CaseIterable, Sendable {
        case crashed, unresponsive, recycled, reloaded
    }

    enum Phase: Equatable {
        case running
        /// Replacing every worker; `again`: a SIGHUP came meanwhile.
        case reloading(again: Bool)
        /// Draining until `terminateAt` (then SIGTERM), everything killed at `deadline`.
        case stopping(terminateAt: ContinuousClock.Instant?, deadline: ContinuousClock.Instant)
    }

    /// What systemd is told (`Supervisor` adds the status line and timestamps).
    enum Notification: Equatable {
        case ready, reloading, stopping, status
    }

    enum Action: Equatable {
        /// Start a worker for the slot and report it with ``spawned(slot:pid:now:)`` or ``spawnFailed(slot:now:)``.
        case spawn(slot: Int)
        case signal(pid_t, CInt)
        case send(WorkerContract.Message, to: pid_t)
        case notify(Notification)
        /// Re-read the configuration; report with ``reloaded(_:now:)`` or ``reloadFailed(_:)``.
        case reloadConfiguration
        case reopenLog
        /// Every slot is served for the first time (write the port file).
        case announceReady
        case log(Logger.Level, String, [String: String])
        case exit(Int32)
    }

    /// A worker that dies sooner than this after start counts as failing to boot.
    static let quickExit = Duration.seconds(5)
    /// How long a booting worker's slot waits before another worker covers it.
    static let coverGrace = Duration.seconds(1)
    static let backoff = Duration.milliseconds(100)...Duration.seconds(10)
    /// Boot failures in a row, on every slot, after which the supervisor gives up.
    static let haltAfterFailures = 5
    /// Extra time a stopping worker gets past GRACEFUL_TIMEOUT to close its connections and exit.
    static let exitMargin = Duration.seconds(2)
    /// The longest the loop sleeps: heartbeats are checked this often.
    static let tickInterval = Duration.milliseconds(250)

    var policy: Supervisor.Policy
    var slots: [Slot]
    /// Workers told to stop (replaced, or the supervisor is stopping), until reaped.
    var retiring: [Worker] = []
    var phase = Phase.running
    /// Restarts by slot and reason.
    var restarts: [Int: [RestartReason: Int]] = [:]
    /// Slots waiting to be replaced one at a time (reload, recycling).
    var replacements: [(slot: Int, reason: RestartReason)] = []
    private var announcedReady = false

    init(slots: Int, policy: Supervisor.Policy) {
        self.slots = Array(repeating: Slot(), count: slots)
        self.policy = policy
    }

    /// Every live worker: serving, starting as a successor, or retiring.
    var allWorkers: [Worker] {
        slots.flatMap { [$0.worker, $0.successor].compactMap { $0 } } + retiring
    }

    var readyCount: Int { slots.filter { $0.worker?.isReady == true }.count }
    var restartCount: Int { restarts.values.reduce(0) { $0 + $1.values.reduce(0, +) } }
    var isStopping: Bool {
        if case .stopping = phase { true } else { false }
    }

    // MARK: - Events

    mutating func start() -> [Action] {
        slots.indices.map { .spawn(slot: $0) }
    }

    /// The worker for `slot` runs as `pid`: the slot's worker, or its successor when it has one serving.
    mutating func spawned(slot: Int, pid: pid_t, now: ContinuousClock.Instant) -> [Action] {
        let worker = Worker(pid: pid, slot: slot, startedAt: now, lastHeartbeat: now)
        if slots[slot].worker == nil { slots[slot].worker = worker } else { slots[slot].successor = worker }
        return [.log(.info, "worker started", ["slot": "\(slot)", "pid": "\(pid)"])]
    }

    /// The system refused to start a worker for `slot` (the cause is logged by the caller): retried in a second.
    mutating func spawnFailed(slot: Int, now: ContinuousClock.Instant) -> [Action] {
        guard slots[slot].worker == nil else { return abandonReplacements(because: "cannot start a worker for slot \(slot)") }
        slots[slot].quickFailures += 1
        slots[slot].restartAt = now + .seconds(1)
        return []
    }

    mutating func ready(pid: pid_t, now: ContinuousClock.Instant) -> [Action] {
        guard let worker = update(pid, { $0.isReady = true; $0.lastHeartbeat = now }) else { return [] }
        slots[worker.slot].quickFailures = 0
        return [.log(.info, "worker ready", ["slot": "\(worker.slot)", "pid": "\(pid)"]), .notify(.status)]
    }

    mutating func heartbeat(pid: pid_t, now: ContinuousClock.Instant) {
        update(pid) { $0.lastHeartbeat = now }
    }

    /// The worker reached WORKER_MAX_REQUESTS.
    mutating func recycle(pid: pid_t) -> [Action] {
        guard let worker = allWorkers.first(where: { $0.pid == pid }) else { return [] }
        scheduleReplacement(of: worker.slot, reason: .recycled)
        return [.log(.notice, "worker reached WORKER_MAX_REQUESTS, replacing it", ["slot": "\(worker.slot)", "pid": "\(pid)"])]
    }

    /// The worker `pid` was reaped; `exit` says how it ended (`status=N`, `signal=N`).
    mutating func exited(pid: pid_t, exit: String, now: ContinuousClock.Instant) -> [Action] {
        guard let worker = allWorkers.first(where: { $0.pid == pid }) else { return [] }
        let uptime = now - worker.startedAt
        var actions: [Action] = [
            .log(.notice, "worker exited", ["slot": "\(worker.slot)", "pid": "\(pid)", "exit": exit, "uptime_s": "\(uptime.components.seconds)"])
        ]
        let slot = worker.slot
        if let index = retiring.firstIndex(where: { $0.pid == pid }) {
            retiring.remove(at: index)
        } else if slots[slot].successor?.pid == pid {
            slots[slot].successor = nil
            actions += abandonReplacements(because: "the new worker for slot \(slot) exited before it was ready")
        } else {
            // A successor already starting takes the slot over; otherwise the slot restarts.
            slots[slot].worker = slots[slot].successor
            slots[slot].successor = nil
            if !isStopping { actions += scheduleRestart(of: worker, uptime: uptime, now: now) }
        }
        return actions + [.notify(.status)]
    }

    /// SIGUSR1: the supervisor and every worker reopen LOG_FILE (after logrotate moved it).
    func reopenLogs() -> [Action] {
        [.reopenLog] + allWorkers.map { .signal($0.pid, SIGUSR1) } + [.log(.info, "log file reopened", [:])]
    }

    /// Timed work: kills, restarts, heartbeat checks, replacements, covers, readiness, the stop's phases.
    mutating func tick(now: ContinuousClock.Instant) -> [Action] {
        var actions: [Action] = []
        for worker in retiring where worker.killAt.map({ now >= $0 }) == true {
            actions += [
                .log(.warning, "worker did not stop within GRACEFUL_TIMEOUT, killing it", ["slot": "\(worker.slot)", "pid": "\(worker.pid)"]),
                .signal(worker.pid, SIGKILL),
            ]
            update(worker.pid) { $0.killAt = nil }
        }
        if case .stopping(let terminateAt, let deadline) = phase { return actions + tickStopping(terminateAt: terminateAt, deadline: deadline, now: now) }
        if slots.allSatisfy({ $0.quickFailures >= Self.haltAfterFailures }) {
            return actions + [.log(.critical, "every worker keeps failing to boot; giving up (see the workers' errors above)", [:]), .exit(1)]
        }
        for slot in slots.indices {
            if let restartAt = slots[slot].restartAt, now >= restartAt {
                slots[slot].restartAt = nil
                actions.append(.spawn(slot: slot))
            }
            actions += killUnresponsive(slot: slot, now: now)
        }
        actions += advanceReplacements(now: now)
        actions += updateCovers(now: now)
        if !announcedReady && everySlotServed {
            announcedReady = true
            actions += [.announceReady, .notify(.ready)]
        }
        return actions
    }

    /// When ``tick(now:)`` next has work.
    func nextWake(now: ContinuousClock.Instant) -> ContinuousClock.Instant {
        var wake = now + Self.tickInterval
        for slot in slots { if let restartAt = slot.restartAt { wake = min(wake, restartAt) } }
        if case .stopping(let terminateAt?, _) = phase { wake = min(wake, terminateAt) }
        return wake
    }

    // MARK: - Transitions

    /// Heartbeats start before a worker is ready, so one stuck while booting is caught too.
    private mutating func killUnresponsive(slot: Int, now: ContinuousClock.Instant) -> [Action] {
        let stuck = [slots[slot].worker, slots[slot].successor].compactMap { $0 }
            .filter { $0.exitReason != .unresponsive && now - $0.lastHeartbeat > policy.workerTimeout }
        return stuck.flatMap { worker -> [Action] in
            update(worker.pid) { $0.exitReason = .unresponsive }
            return [.log(.error, "worker missed heartbeats, killing it", ["slot": "\(slot)", "pid": "\(worker.pid)"]), .signal(worker.pid, SIGKILL)]
        }
    }

    private mutating func scheduleRestart(of worker: Worker, uptime: Duration, now: ContinuousClock.Instant) -> [Action] {
        count(restart: worker.exitReason, slot: worker.slot)
        let slot = worker.slot
        guard slots[slot].worker == nil else { return [] }
        guard uptime < Self.quickExit && !worker.isReady else {
            slots[slot].restartAt = now
            return []
        }
        slots[slot].quickFailures += 1
        let delay = min(Self.backoff.lowerBound * (1 << min(slots[slot].quickFailures - 1, 16)), Self.backoff.upperBound)
        slots[slot].restartAt = now + delay
        return [.log(.warning, "worker failed to boot, backing off", ["slot": "\(slot)", "failures": "\(slots[slot].quickFailures)", "delay_ms": "\(delay.milliseconds)"])]
    }

    mutating func count(restart reason: RestartReason, slot: Int) {
        restarts[slot, default: [:]][reason, default: 0] += 1
    }

    /// Tells `worker` to stop (SIGTERM: stop accepting, `Connection: close`,
    /// finish within GRACEFUL_TIMEOUT) and keeps it until it exits.
    mutating func retire(_ worker: Worker, now: ContinuousClock.Instant) -> [Action] {
        var worker = worker
        worker.killAt = now + policy.gracefulTimeout + Self.exitMargin
        worker.covering = []
        retiring.append(worker)
        return [.signal(worker.pid, SIGTERM)]
    }

    /// Applies `change` to the live worker with `pid`, wherever it is; returns it changed, nil when there is none.
    @discardableResult
    mutating func update(_ pid: pid_t, _ change: (inout Worker) -> Void) -> Worker? {
        for slot in slots.indices {
            if slots[slot].worker?.pid == pid { change(&slots[slot].worker!); return slots[slot].worker }
            if slots[slot].successor?.pid == pid { change(&slots[slot].successor!); return slots[slot].successor }
        }
        guard let index = retiring.firstIndex(where: { $0.pid == pid }) else { return nil }
        change(&retiring[index])
        return retiring[index]
    }
}
