import DurationUnits
import CSystemd
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// The supervisor: a single-threaded poll(2) loop over a signalfd and the
/// workers' control channels that spawns one worker process per slot,
/// restarts crashed ones (with capped exponential backoff when a slot keeps
/// dying right after start), kills workers whose heartbeats stop, has a live
/// worker cover a slot that has none, replaces workers one at a time on
/// reload or recycling, totals the workers' metrics, reports to systemd, and
/// stops everything gracefully on SIGTERM/SIGINT.
///
/// It starts no threads: PR_SET_PDEATHSIG in the workers fires when the
/// parent *thread* exits, so a runtime thread spawning a worker and later
/// exiting would kill it.
public final class Supervisor {
    /// What a reload may change: timings and the configuration workers start with.
    public struct Policy {
        public var workerTimeout: Duration
        public var gracefulTimeout: Duration
        /// How long workers report `draining` before they are told to stop (SHUTDOWN_DELAY).
        public var shutdownDelay: Duration
        /// `KEY=value` entries added to the workers' environment (the env file's settings).
        public var workerEnvironment: [String]

        public init(workerTimeout: Duration, gracefulTimeout: Duration, shutdownDelay: Duration = .zero, workerEnvironment: [String] = []) {
            self.workerTimeout = workerTimeout
            self.gracefulTimeout = gracefulTimeout
            self.shutdownDelay = shutdownDelay
            self.workerEnvironment = workerEnvironment
        }
    }

    /// How to run workers.
    public struct Options {
        /// The worker's arguments; the binary is `/proc/self/exe` (which survives a package upgrade replacing the file).
        public var workerArguments: [String]
        public var policy: Policy
        /// A listening socket every worker serves /metrics on (METRICS_PORT), or nil.
        public var metricsListener: ListeningSocket?
        /// Re-reads the configuration on SIGHUP; a thrown error is logged and the old policy kept.
        public var reload: () throws -> Policy
        /// Reopens the log file on SIGUSR1.
        public var reopenLog: () -> Void
        /// Called once when every slot is served (e.g. to write the port file).
        public var onReady: () -> Void

        public init(
            workerArguments: [String], policy: Policy, metricsListener: ListeningSocket? = nil,
            reload: @escaping () throws -> Policy, reopenLog: @escaping () -> Void = {}, onReady: @escaping () -> Void = {}
        ) {
            self.workerArguments = workerArguments
            self.policy = policy
            self.metricsListener = metricsListener
            self.reload = reload
            self.reopenLog = reopenLog
            self.onReady = onReady
        }
    }

    struct Worker {
        let pid: pid_t
        let slot: Int
        let control: CInt
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

    struct Slot {
        var worker: Worker?
        /// A replacement starting while `worker` still serves (reload, recycling).
        var successor: Worker?
        /// Consecutive exits within `quickExit` of start.
        var quickFailures = 0
        var restartAt: ContinuousClock.Instant?
    }

    enum RestartReason: String, CaseIterable {
        case crashed, unresponsive, recycled, reloaded
    }

    static let handledSignals = [SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR1]
    /// A worker that dies sooner than this after start counts as failing to boot.
    static let quickExit = Duration.seconds(5)
    /// How long a booting worker's slot waits before another worker covers it.
    static let coverGrace = Duration.seconds(1)
    static let backoff = Duration.milliseconds(100)...Duration.seconds(10)
    /// Boot failures in a row, on every slot, after which the supervisor gives up.
    static let haltAfterFailures = 5
    /// Extra time a stopping worker gets past GRACEFUL_TIMEOUT to close its connections and exit.
    static let exitMargin = Duration.seconds(2)
    /// How long a metrics gather waits for workers before answering with their last reports.
    static let gatherTimeout = Duration.milliseconds(1500)

    var options: Options
    let listeners: [CInt]
    let metricsListener: CInt?
    let logger: Logger
    let notifier = SystemdNotifier()
    var slots: [Slot]
    /// Workers told to stop (replaced, or the supervisor is stopping), until reaped.
    var retiring: [Worker] = []
    var restarts: [String: Int] = [:]
    var announcedReady = false
    var stopDeadline: ContinuousClock.Instant?
    /// While stopping: when the draining workers get SIGTERM.
    var terminateAt: ContinuousClock.Instant?
    var nextWatchdog: ContinuousClock.Instant?
    /// Slots waiting to be replaced one at a time (reload, recycling).
    var replacements: [(slot: Int, reason: RestartReason)] = []
    var isReloading = false
    var reloadRequested = false
    var metrics = MetricsTotals()
    var gathers: [UInt64: Gather] = [:]
    var nextGather: UInt64 = 1

    /// - Parameter listeners: one listening socket per slot; kept open for the supervisor's life.
    public init(options: Options, listeners: [ListeningSocket], logger: Logger) {
        self.options = options
        // Move the sockets far above the descriptors the workers receive them at (3...), so the dup2s cannot collide.
        self.listeners = listeners.map { fcntl($0.descriptor, F_DUPFD_CLOEXEC, CInt(1000)) }
        self.metricsListener = options.metricsListener.map { fcntl($0.descriptor, F_DUPFD_CLOEXEC, CInt(1000)) }
        self.logger = logger
        self.slots = Array(repeating: Slot(), count: listeners.count)
    }

    /// Blocks the signals the supervisor handles; call first thing, before any thread exists.
    public static func blockSignals() {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in handledSignals { sigaddset(&set, signal) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Runs until stopped; returns the process exit status.
    public func run() -> Int32 {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in Self.handledSignals { sigaddset(&set, signal) }
        let signals = signalfd(-1, &set, CInt(SFD_CLOEXEC | SFD_NONBLOCK))
        guard signals >= 0 else {
            logger.critical("signalfd failed: \(String(cString: strerror(errno)))")
            return 1
        }
        defer { close(signals) }
        if let interval = notifier.watchdogInterval { nextWatchdog = .now + interval }
        for slot in slots.indices { slots[slot].worker = spawn(slot: slot) }

        var buffer = [UInt8](repeating: 0, count: WorkerContract.maximumMessageSize)
        while true {
            let watched = allWorkers.map(\.control)
            var descriptors = [pollfd(fd: signals, events: Int16(POLLIN), revents: 0)]
            descriptors += watched.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            _ = poll(&descriptors, nfds_t(descriptors.count), pollTimeoutMilliseconds())
            for (offset, control) in watched.enumerated() where descriptors[offset + 1].revents != 0 {
                readControl(control, buffer: &buffer)
            }
            if descriptors[0].revents != 0 { handleSignals(signals, buffer: &buffer) }
            if let status = tick() { return status }
        }
    }

    /// Every live worker: serving, starting as a successor, or retiring.
    var allWorkers: [Worker] {
        slots.flatMap { [$0.worker, $0.successor].compactMap { $0 } } + retiring
    }

    // MARK: - Events

    private func handleSignals(_ descriptor: CInt, buffer: inout [UInt8]) {
        var info = signalfd_siginfo()
        while read(descriptor, &info, MemoryLayout<signalfd_siginfo>.size) == MemoryLayout<signalfd_siginfo>.size {
            switch CInt(info.ssi_signo) {
            case SIGCHLD: reapChildren(buffer: &buffer)
            case SIGTERM, SIGINT: beginStop(signal: CInt(info.ssi_signo))
            case SIGHUP: requestReload()
            case SIGUSR1: reopenLogs()
            default: break
            }
        }
    }

    /// Reads every message waiting on a worker's control channel.
    func readControl(_ control: CInt, buffer: inout [UInt8]) {
        while case .message(let message) = WorkerContract.receive(on: control, buffer: &buffer, blocking: false) {
            guard let worker = allWorkers.first(where: { $0.control == control }) else { return }
            handle(message, from: worker)
        }
    }

    private func handle(_ message: WorkerContract.Message, from worker: Worker) {
        switch message {
        case .ready:
            update(worker.pid) {
                $0.isReady = true
                $0.lastHeartbeat = .now
            }
            slots[worker.slot].quickFailures = 0
            logger.info("worker ready", metadata: ["slot": "\(worker.slot)", "pid": "\(worker.pid)"])
            reportStatus()
        case .heartbeat:
            update(worker.pid) { $0.lastHeartbeat = .now }
        case .recycle:
            logger.notice("worker reached WORKER_MAX_REQUESTS, replacing it", metadata: ["slot": "\(worker.slot)", "pid": "\(worker.pid)"])
            scheduleReplacement(of: worker.slot, reason: .recycled)
        case .metricsRequest(let id):
            beginGather(for: worker, id: id)
        case .metricsReport(let gather, let exposition):
            metrics.record(exposition, from: worker.pid)
            receivedReport(gather: gather, from: worker.pid)
        case .drain, .cover, .uncover, .metricsCollect, .metrics:
            break
        }
    }

    /// Applies `change` to the live worker with `pid`, wherever it is.
    func update(_ pid: pid_t, _ change: (inout Worker) -> Void) {
        for slot in slots.indices {
            if slots[slot].worker?.pid == pid { change(&slots[slot].worker!) }
            if slots[slot].successor?.pid == pid { change(&slots[slot].successor!) }
        }
        if let index = retiring.firstIndex(where: { $0.pid == pid }) { change(&retiring[index]) }
    }

    private func reapChildren(buffer: inout [UInt8]) {
        var status: CInt = 0
        while case let pid = waitpid(-1, &status, WNOHANG), pid > 0 {
            guard let worker = allWorkers.first(where: { $0.pid == pid }) else { continue }
            readControl(worker.control, buffer: &buffer)  // its last metrics report
            close(worker.control)
            metrics.retire(pid)
            abandonGathers(waitingFor: pid)
            let uptime = ContinuousClock.now - worker.startedAt
            let how = status & 0x7f == 0 ? "status=\((status >> 8) & 0xff)" : "signal=\(status & 0x7f)"
            logger.notice("worker exited", metadata: ["slot": "\(worker.slot)", "pid": "\(pid)", "exit": "\(how)", "uptime_s": "\(uptime.components.seconds)"])
            if let index = retiring.firstIndex(where: { $0.pid == pid }) {
                retiring.remove(at: index)
            } else if slots[worker.slot].successor?.pid == pid {
                slots[worker.slot].successor = nil
                abandonReplacements(because: "the new worker for slot \(worker.slot) exited before it was ready")
            } else {
                // A successor already starting takes the slot over; otherwise the slot restarts.
                slots[worker.slot].worker = slots[worker.slot].successor
                slots[worker.slot].successor = nil
                if stopDeadline == nil { scheduleRestart(of: worker, uptime: uptime) }
            }
            reportStatus()
        }
    }

    private func scheduleRestart(of worker: Worker, uptime: Duration) {
        count(restart: worker.exitReason, slot: worker.slot)
        let slot = worker.slot
        guard slots[slot].worker == nil else { return }
        if uptime < Self.quickExit && !worker.isReady {
            slots[slot].quickFailures += 1
            let delay = min(Self.backoff.lowerBound * (1 << min(slots[slot].quickFailures - 1, 16)), Self.backoff.upperBound)
            slots[slot].restartAt = .now + delay
            logger.warning("worker failed to boot, backing off", metadata: ["slot": "\(slot)", "failures": "\(slots[slot].quickFailures)", "delay_ms": "\(delay.milliseconds)"])
        } else {
            slots[slot].restartAt = .now
        }
    }

    func count(restart reason: RestartReason, slot: Int) {
        restarts["\(slot) \(reason.rawValue)", default: 0] += 1
    }

    /// Stopping: workers report `draining` for the shutdown delay, then get
    /// SIGTERM and finish their requests within the graceful timeout.
    private func beginStop(signal: CInt) {
        guard stopDeadline == nil else { return }
        logger.notice("stopping: draining workers", metadata: ["signal": "\(signal)"])
        notifier.notify("STOPPING=1")
        let terminateAt = ContinuousClock.now + options.policy.shutdownDelay
        self.terminateAt = terminateAt
        stopDeadline = terminateAt + options.policy.gracefulTimeout + Self.exitMargin
        replacements = []
        for slot in slots.indices {
            slots[slot].restartAt = nil
            if let successor = slots[slot].successor {
                slots[slot].successor = nil
                retire(successor)
            }
        }
        for worker in allWorkers { WorkerContract.send(.drain, on: worker.control) }
    }

    /// SIGUSR1: the supervisor and every worker reopen LOG_FILE (after logrotate moved it).
    private func reopenLogs() {
        options.reopenLog()
        for worker in allWorkers { kill(worker.pid, SIGUSR1) }
        logger.info("log file reopened")
    }

    /// Tells `worker` to stop (SIGTERM: stop accepting, `Connection: close`,
    /// finish within GRACEFUL_TIMEOUT) and keeps it until it exits.
    func retire(_ worker: Worker) {
        var worker = worker
        worker.killAt = .now + options.policy.gracefulTimeout + Self.exitMargin
        worker.covering = []
        kill(worker.pid, SIGTERM)
        retiring.append(worker)
    }

    /// Timed work; returns an exit status when the supervisor is done.
    private func tick() -> Int32? {
        let now = ContinuousClock.now
        finishExpiredGathers(now: now)
        for worker in retiring where worker.killAt.map({ now >= $0 }) == true {
            logger.warning("worker did not stop within GRACEFUL_TIMEOUT, killing it", metadata: ["slot": "\(worker.slot)", "pid": "\(worker.pid)"])
            kill(worker.pid, SIGKILL)
            update(worker.pid) { $0.killAt = nil }
        }
        if let deadline = stopDeadline {
            if let terminateAt, now >= terminateAt {
                self.terminateAt = nil
                for slot in slots.indices {
                    if let worker = slots[slot].worker { retire(worker) }
                    slots[slot].worker = nil
                }
            }
            if allWorkers.isEmpty {
                logger.notice("stopped")
                return 0
            }
            if now >= deadline { for worker in allWorkers { kill(worker.pid, SIGKILL) } }
            return nil
        }
        if slots.allSatisfy({ $0.quickFailures >= Self.haltAfterFailures }) {
            logger.critical("every worker keeps failing to boot; giving up (see the workers' errors above)")
            return 1
        }
        for slot in slots.indices {
            if let restartAt = slots[slot].restartAt, now >= restartAt {
                slots[slot].restartAt = nil
                slots[slot].worker = spawn(slot: slot)
            }
            // Heartbeats start before a worker is ready, so one stuck while booting is caught too.
            for worker in [slots[slot].worker, slots[slot].successor].compactMap({ $0 }) where now - worker.lastHeartbeat > options.policy.workerTimeout {
                logger.error("worker missed heartbeats, killing it", metadata: ["slot": "\(slot)", "pid": "\(worker.pid)"])
                update(worker.pid) { $0.exitReason = .unresponsive }
                kill(worker.pid, SIGKILL)
            }
        }
        advanceReplacements()
        updateCovers()
        if !announcedReady && everySlotServed {
            announcedReady = true
            options.onReady()
            notifier.notify("READY=1", statusLine())
        }
        if let watchdog = nextWatchdog, now >= watchdog, let interval = notifier.watchdogInterval {
            notifier.notify("WATCHDOG=1")
            nextWatchdog = now + interval
        }
        return nil
    }

    private func pollTimeoutMilliseconds() -> CInt {
        var wake = ContinuousClock.now + .milliseconds(250)
        for slot in slots { if let restartAt = slot.restartAt { wake = min(wake, restartAt) } }
        if let terminateAt { wake = min(wake, terminateAt) }
        if let watchdog = nextWatchdog { wake = min(wake, watchdog) }
        return CInt(max(wake - .now, .zero).milliseconds) + 1
    }

    func statusLine() -> String {
        let ready = slots.filter { $0.worker?.isReady == true }.count
        let total = restarts.values.reduce(0, +)
        return "STATUS=\(ready)/\(slots.count) workers ready, \(total) restarts"
    }

    func reportStatus() {
        notifier.notify(statusLine())
    }
}
