import CSystemd
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// The supervisor: a single-threaded poll(2) loop over a signalfd and the
/// workers' control channels that spawns one worker process per slot,
/// restarts crashed ones (with capped exponential backoff when a slot keeps
/// dying right after start), kills workers whose heartbeats stop, reports
/// to systemd, and stops everything gracefully on SIGTERM/SIGINT.
///
/// It starts no threads: PR_SET_PDEATHSIG in the workers fires when the
/// parent *thread* exits, so a runtime thread spawning a worker and later
/// exiting would kill it.
public final class Supervisor {
    /// How to run workers and how long to wait for them.
    public struct Options {
        /// The worker command line, `/proc/self/exe worker ...` (survives a package upgrade replacing the file).
        public var workerArguments: [String]
        public var workerTimeout: Duration
        public var gracefulTimeout: Duration
        /// How long workers report `draining` before they are told to stop (SHUTDOWN_DELAY).
        public var shutdownDelay: Duration
        /// Called once when every worker is ready (e.g. to write the port file).
        public var onReady: () -> Void

        public init(
            workerArguments: [String], workerTimeout: Duration, gracefulTimeout: Duration, shutdownDelay: Duration = .zero,
            onReady: @escaping () -> Void = {}
        ) {
            self.workerArguments = workerArguments
            self.workerTimeout = workerTimeout
            self.gracefulTimeout = gracefulTimeout
            self.shutdownDelay = shutdownDelay
            self.onReady = onReady
        }
    }

    struct Worker {
        let pid: pid_t
        let control: CInt
        let startedAt: ContinuousClock.Instant
        var isReady = false
        var lastHeartbeat: ContinuousClock.Instant
    }

    struct Slot {
        var worker: Worker?
        /// Consecutive exits within `quickExit` of start.
        var quickFailures = 0
        var restartAt: ContinuousClock.Instant?
    }

    static let handledSignals = [SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR1]
    /// A worker that dies sooner than this after start counts as failing to boot.
    static let quickExit = Duration.seconds(5)
    static let backoff = Duration.milliseconds(100)...Duration.seconds(10)
    /// Boot failures in a row, on every slot, after which the supervisor gives up.
    static let haltAfterFailures = 5

    let options: Options
    let listeners: [CInt]
    let logger: Logger
    let notifier = SystemdNotifier()
    var slots: [Slot]
    var restarts = 0
    var announcedReady = false
    var stopDeadline: ContinuousClock.Instant?
    /// While stopping: when the draining workers get SIGTERM.
    var terminateAt: ContinuousClock.Instant?
    var nextWatchdog: ContinuousClock.Instant?

    /// - Parameter listeners: one listening socket per slot; kept open for the supervisor's life.
    public init(options: Options, listeners: [ListeningSocket], logger: Logger) {
        self.options = options
        // Move the sockets far above the descriptors the workers receive them at (3...), so the dup2s cannot collide.
        self.listeners = listeners.map { fcntl($0.descriptor, F_DUPFD_CLOEXEC, CInt(1000)) }
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
        for slot in slots.indices { spawn(slot: slot) }

        while true {
            var descriptors = [pollfd(fd: signals, events: Int16(POLLIN), revents: 0)]
            let watched = slots.indices.compactMap { index in slots[index].worker.map { (index, $0.control) } }
            descriptors += watched.map { pollfd(fd: $0.1, events: Int16(POLLIN), revents: 0) }
            _ = poll(&descriptors, nfds_t(descriptors.count), pollTimeoutMilliseconds())
            if descriptors[0].revents != 0 { handleSignals(signals) }
            for (offset, (slot, _)) in watched.enumerated() where descriptors[offset + 1].revents != 0 {
                readControl(slot: slot)
            }
            if let status = tick() { return status }
        }
    }

    // MARK: - Events

    private func handleSignals(_ descriptor: CInt) {
        var info = signalfd_siginfo()
        while read(descriptor, &info, MemoryLayout<signalfd_siginfo>.size) == MemoryLayout<signalfd_siginfo>.size {
            switch CInt(info.ssi_signo) {
            case SIGCHLD: reapChildren()
            case SIGTERM, SIGINT: beginStop(signal: CInt(info.ssi_signo))
            default: logger.info("ignoring signal", metadata: ["signal": "\(info.ssi_signo)"])
            }
        }
    }

    private func readControl(slot: Int) {
        guard let worker = slots[slot].worker else { return }
        var buffer = [UInt8](repeating: 0, count: 64)
        while true {
            let count = recv(worker.control, &buffer, buffer.count, CInt(MSG_DONTWAIT))
            guard count > 0 else { return }
            switch WorkerContract.Message(rawValue: String(decoding: buffer[0..<count], as: UTF8.self)) {
            case .ready:
                slots[slot].worker?.isReady = true
                slots[slot].worker?.lastHeartbeat = .now
                slots[slot].quickFailures = 0
                logger.info("worker ready", metadata: ["slot": "\(slot)", "pid": "\(worker.pid)"])
                reportStatus()
            case .heartbeat:
                slots[slot].worker?.lastHeartbeat = .now
            case .drain, nil:
                break
            }
        }
    }

    private func reapChildren() {
        var status: CInt = 0
        while case let pid = waitpid(-1, &status, WNOHANG), pid > 0 {
            guard let slot = slots.firstIndex(where: { $0.worker?.pid == pid }), let worker = slots[slot].worker else { continue }
            close(worker.control)
            slots[slot].worker = nil
            let uptime = ContinuousClock.now - worker.startedAt
            let how = status & 0x7f == 0 ? "status=\((status >> 8) & 0xff)" : "signal=\(status & 0x7f)"
            logger.notice("worker exited", metadata: ["slot": "\(slot)", "pid": "\(pid)", "exit": "\(how)", "uptime_s": "\(uptime.components.seconds)"])
            guard stopDeadline == nil else { continue }
            restarts += 1
            if uptime < Self.quickExit && !worker.isReady {
                slots[slot].quickFailures += 1
                let delay = min(Self.backoff.lowerBound * (1 << min(slots[slot].quickFailures - 1, 16)), Self.backoff.upperBound)
                slots[slot].restartAt = .now + delay
                logger.warning("worker failed to boot, backing off", metadata: ["slot": "\(slot)", "failures": "\(slots[slot].quickFailures)", "delay_ms": "\(delay.components.seconds * 1000 + delay.components.attoseconds / 1_000_000_000_000_000)"])
            } else {
                slots[slot].restartAt = .now
            }
            reportStatus()
        }
    }

    /// Stopping: workers report `draining` for the shutdown delay, then get
    /// SIGTERM and finish their requests within the graceful timeout.
    private func beginStop(signal: CInt) {
        guard stopDeadline == nil else { return }
        logger.notice("stopping: draining workers", metadata: ["signal": "\(signal)"])
        notifier.notify("STOPPING=1")
        let terminateAt = ContinuousClock.now + options.shutdownDelay
        self.terminateAt = terminateAt
        stopDeadline = terminateAt + options.gracefulTimeout
        for slot in slots.indices {
            slots[slot].restartAt = nil
            if let worker = slots[slot].worker {
                _ = WorkerContract.Message.drain.rawValue.withCString { send(worker.control, $0, strlen($0), CInt(MSG_NOSIGNAL | MSG_DONTWAIT)) }
            }
        }
    }

    /// Timed work; returns an exit status when the supervisor is done.
    private func tick() -> Int32? {
        let now = ContinuousClock.now
        if let deadline = stopDeadline {
            if let terminateAt, now >= terminateAt {
                self.terminateAt = nil
                for slot in slots { if let pid = slot.worker?.pid { kill(pid, SIGTERM) } }
            }
            if slots.allSatisfy({ $0.worker == nil }) {
                logger.notice("stopped")
                return 0
            }
            if now >= deadline {
                for slot in slots where slot.worker != nil { kill(slot.worker!.pid, SIGKILL) }
            }
            return nil
        }
        if slots.allSatisfy({ $0.quickFailures >= Self.haltAfterFailures }) {
            logger.critical("every worker keeps failing to boot; giving up (see the workers' errors above)")
            return 1
        }
        for slot in slots.indices {
            if let restartAt = slots[slot].restartAt, now >= restartAt { spawn(slot: slot) }
            if let worker = slots[slot].worker, worker.isReady, now - worker.lastHeartbeat > options.workerTimeout {
                logger.error("worker missed heartbeats, killing it", metadata: ["slot": "\(slot)", "pid": "\(worker.pid)"])
                kill(worker.pid, SIGKILL)
            }
        }
        if !announcedReady && slots.allSatisfy({ $0.worker?.isReady == true }) {
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
        var wake = ContinuousClock.now + .seconds(1)
        for slot in slots { if let restartAt = slot.restartAt { wake = min(wake, restartAt) } }
        if let terminateAt { wake = min(wake, terminateAt) }
        if let watchdog = nextWatchdog { wake = min(wake, watchdog) }
        let (seconds, attoseconds) = max(wake - .now, .zero).components
        return CInt(seconds * 1000 + attoseconds / 1_000_000_000_000_000) + 1
    }

    private func statusLine() -> String {
        let ready = slots.filter { $0.worker?.isReady == true }.count
        return "STATUS=\(ready)/\(slots.count) workers ready, \(restarts) restarts"
    }

    private func reportStatus() {
        notifier.notify(statusLine())
    }

    // MARK: - Spawning

    private func spawn(slot: Int) {
        slots[slot].restartAt = nil
        var pair: [CInt] = [0, 0]
        guard socketpair(AF_UNIX, CInt(SOCK_SEQPACKET.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            logger.error("socketpair failed: \(String(cString: strerror(errno)))")
            slots[slot].restartAt = .now + .seconds(1)
            return
        }
        let childEnd = fcntl(pair[1], F_DUPFD_CLOEXEC, CInt(1000))
        close(pair[1])
        defer { close(childEnd) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (index, listener) in listeners.enumerated() {
            posix_spawn_file_actions_adddup2(&actions, listener, WorkerContract.listener(slot: index))
        }
        posix_spawn_file_actions_adddup2(&actions, childEnd, WorkerContract.controlChannel(slots: listeners.count))

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in Self.handledSignals { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = (["/proc/self/exe"] + options.workerArguments).map { strdup($0) } + [nil]
        let envp = workerEnvironment(slot: slot).map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, "/proc/self/exe", &actions, &attributes, argv, envp)
        guard result == 0 else {
            close(pair[0])
            logger.error("cannot start a worker: \(String(cString: strerror(result)))")
            slots[slot].quickFailures += 1
            slots[slot].restartAt = .now + .seconds(1)
            return
        }
        slots[slot].worker = Worker(pid: pid, control: pair[0], startedAt: .now, lastHeartbeat: .now)
        logger.info("worker started", metadata: ["slot": "\(slot)", "pid": "\(pid)"])
    }

    /// The supervisor's environment without systemd's notification variables, plus the slot.
    private func workerEnvironment(slot: Int) -> [String] {
        var entries: [String] = []
        var entry = environ
        while let pointer = entry.pointee {
            let text = String(cString: pointer)
            let replaced = ["NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID=", WorkerContract.slotVariable + "=", WorkerContract.slotsVariable + "=", WorkerContract.supervisorVariable + "="]
            if !replaced.contains(where: text.hasPrefix) {
                entries.append(text)
            }
            entry += 1
        }
        return entries + [
            "\(WorkerContract.slotVariable)=\(slot)", "\(WorkerContract.slotsVariable)=\(listeners.count)", "\(WorkerContract.supervisorVariable)=\(getpid())",
        ]
    }
}
