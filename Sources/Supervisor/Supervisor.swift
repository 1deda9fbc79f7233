import CSystemd
import Logging
import Primitives

#if canImport(Glibc)
import Glibc
#endif

/// The supervisor process: a single-threaded poll(2) loop over a signalfd
/// and the workers' control channels. It turns what it reads into events for
/// ``SupervisorStateMachine`` (which decides when to spawn, restart, back
/// off, kill, cover, replace and stop) and carries out the actions it
/// returns: spawning worker processes, signalling them, messaging them,
/// notifying systemd. It also totals the workers' metrics.
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

    static let handledSignals = [SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR1]
    /// How long a metrics gather waits for workers before answering with their last reports.
    static let gatherTimeout = Duration.milliseconds(1500)

    var options: Options
    let listeners: [CInt]
    let metricsListener: CInt?
    let logger: Logger
    let notifier = SystemdNotifier()
    /// Every decision: this class only does what it says.
    var machine: SupervisorStateMachine
    /// Each live worker's end of its control channel.
    var controls: [pid_t: CInt] = [:]
    var nextWatchdog: ContinuousClock.Instant?
    var metrics = MetricsTotals()
    var gathers: [UInt64: Gather] = [:]
    var nextGather: UInt64 = 1
    /// The workers' ``WorkerContract/sharedDirectoryVariable`` while ``run()`` runs.
    var sharedDirectory: String?

    /// - Parameter listeners: one listening socket per slot; kept open for the supervisor's life.
    public init(options: Options, listeners: [ListeningSocket], logger: Logger) {
        self.options = options
        // Move the sockets far above the descriptors the workers receive them at (3...), so the dup2s cannot collide.
        self.listeners = listeners.map { fcntl($0.descriptor, F_DUPFD_CLOEXEC, CInt(1000)) }
        self.metricsListener = options.metricsListener.map { fcntl($0.descriptor, F_DUPFD_CLOEXEC, CInt(1000)) }
        self.logger = logger
        self.machine = SupervisorStateMachine(slots: listeners.count, policy: options.policy)
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
        let shared = SharedDirectory()
        if shared == nil { logger.warning("no directory for the workers to share the library's index: each holds its own (\(String(cString: strerror(errno))))") }
        sharedDirectory = shared?.path
        defer { shared?.remove() }
        if let interval = notifier.watchdogInterval { nextWatchdog = .now + interval }
        if let status = perform(machine.start()) { return status }

        var buffer = [UInt8](repeating: 0, count: WorkerContract.maximumMessageSize)
        while true {
            let watched = Array(controls)
            var descriptors = [pollfd(fd: signals, events: Int16(POLLIN), revents: 0)]
            descriptors += watched.map { pollfd(fd: $0.value, events: Int16(POLLIN), revents: 0) }
            _ = poll(&descriptors, nfds_t(descriptors.count), pollTimeoutMilliseconds())
            for (offset, worker) in watched.enumerated() where descriptors[offset + 1].revents != 0 {
                if let status = readControl(of: worker.key, buffer: &buffer) { return status }
            }
            if descriptors[0].revents != 0, let status = handleSignals(signals, buffer: &buffer) { return status }
            finishExpiredGathers(now: .now)
            sendWatchdog()
            if let status = perform(machine.tick(now: .now)) { return status }
        }
    }

    // MARK: - Events

    private func handleSignals(_ descriptor: CInt, buffer: inout [UInt8]) -> Int32? {
        var info = signalfd_siginfo()
        while read(descriptor, &info, MemoryLayout<signalfd_siginfo>.size) == MemoryLayout<signalfd_siginfo>.size {
            let signal = CInt(info.ssi_signo)
            let actions: [SupervisorStateMachine.Action]
            switch signal {
            case SIGCHLD:
                if let status = reapChildren(buffer: &buffer) { return status }
                continue
            case SIGTERM, SIGINT: actions = machine.stop(signal: signal, now: .now)
            case SIGHUP: actions = machine.reload()
            case SIGUSR1: actions = machine.reopenLogs()
            default: continue
            }
            if let status = perform(actions) { return status }
        }
        return nil
    }

    /// Reads every message waiting on a worker's control channel.
    func readControl(of pid: pid_t, buffer: inout [UInt8]) -> Int32? {
        guard let control = controls[pid] else { return nil }
        while case .message(let message) = WorkerContract.receive(on: control, buffer: &buffer, blocking: false) {
            if let status = handle(message, from: pid) { return status }
        }
        return nil
    }

    private func handle(_ message: WorkerContract.Message, from pid: pid_t) -> Int32? {
        switch message {
        case .ready: return perform(machine.ready(pid: pid, now: .now))
        case .heartbeat: machine.heartbeat(pid: pid, now: .now)
        case .recycle: return perform(machine.recycle(pid: pid))
        case .metricsRequest(let id): beginGather(for: pid, id: id)
        case .metricsReport(let gather, let exposition):
            metrics.record(exposition, from: pid)
            receivedReport(gather: gather, from: pid)
        case .drain, .cover, .uncover, .metricsCollect, .metrics: break
        }
        return nil
    }

    private func reapChildren(buffer: inout [UInt8]) -> Int32? {
        var status: CInt = 0
        while case let pid = waitpid(-1, &status, WNOHANG), pid > 0 {
            guard controls[pid] != nil else { continue }
            _ = readControl(of: pid, buffer: &buffer)  // its last metrics report
            if let control = controls.removeValue(forKey: pid) { close(control) }
            metrics.retire(pid)
            abandonGathers(waitingFor: pid)
            let how = status & 0x7f == 0 ? "status=\((status >> 8) & 0xff)" : "signal=\(status & 0x7f)"
            if let exit = perform(machine.exited(pid: pid, exit: how, now: .now)) { return exit }
        }
        return nil
    }

    // MARK: - Actions

    /// Carries out `actions` in order (each may lead to more); an exit status ends the loop.
    func perform(_ actions: [SupervisorStateMachine.Action]) -> Int32? {
        for action in actions {
            switch action {
            case .spawn(let slot):
                let next = spawn(slot: slot).map { machine.spawned(slot: slot, pid: $0, now: .now) } ?? machine.spawnFailed(slot: slot, now: .now)
                if let status = perform(next) { return status }
            case .signal(let pid, let signal):
                kill(pid, signal)
            case .send(let message, let pid):
                if let control = controls[pid] { WorkerContract.send(message, on: control) }
            case .notify(let notification):
                notify(notification)
            case .reloadConfiguration:
                let next: [SupervisorStateMachine.Action]
                do { next = machine.reloaded(try options.reload()) } catch { next = machine.reloadFailed("\(error)") }
                if let status = perform(next) { return status }
            case .reopenLog:
                options.reopenLog()
            case .announceReady:
                options.onReady()
            case .log(let level, let message, let metadata):
                logger.log(level: level, "\(message)", metadata: metadata.mapValues { .string($0) })
            case .exit(let status):
                return status
            }
        }
        return nil
    }

    private func notify(_ notification: SupervisorStateMachine.Notification) {
        switch notification {
        case .ready: notifier.notify("READY=1", statusLine())
        case .reloading: notifier.notify("RELOADING=1", "MONOTONIC_USEC=\(Self.monotonicMicroseconds())")
        case .stopping: notifier.notify("STOPPING=1")
        case .status: notifier.notify(statusLine())
        }
    }

    private func sendWatchdog() {
        guard let watchdog = nextWatchdog, ContinuousClock.now >= watchdog, let interval = notifier.watchdogInterval else { return }
        notifier.notify("WATCHDOG=1")
        nextWatchdog = .now + interval
    }

    private func pollTimeoutMilliseconds() -> CInt {
        var wake = machine.nextWake(now: .now)
        if let watchdog = nextWatchdog { wake = min(wake, watchdog) }
        return CInt(max(wake - .now, .zero).milliseconds) + 1
    }

    func statusLine() -> String {
        "STATUS=\(machine.readyCount)/\(machine.slots.count) workers ready, \(machine.restartCount) restarts"
    }

    static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
    }
}
