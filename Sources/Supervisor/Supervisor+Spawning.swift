import Logging

#if canImport(Glibc)
import Glibc
#endif

extension Supervisor {
    /// Starts a worker for `slot` with every slot's socket and a fresh control
    /// channel; its pid, or nil (logged) when the system refuses.
    func spawn(slot: Int) -> pid_t? {
        var pair: [CInt] = [0, 0]
        guard socketpair(AF_UNIX, CInt(SOCK_SEQPACKET.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            logger.error("socketpair failed: \(String(cString: strerror(errno)))")
            return nil
        }
        for end in pair {
            var size = CInt(WorkerContract.maximumMessageSize)
            setsockopt(end, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<CInt>.size))
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
        if let metricsListener {
            posix_spawn_file_actions_adddup2(&actions, metricsListener, WorkerContract.metricsListener(slots: listeners.count))
        }

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

        // Executed through /proc/self/exe (the running binary, even after an upgrade
        // replaced the file), named scribes-assistant so that ps and syslog say so.
        let argv = (["scribes-assistant"] + options.workerArguments).map { strdup($0) } + [nil]
        let envp = workerEnvironment(slot: slot).map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, "/proc/self/exe", &actions, &attributes, argv, envp)
        guard result == 0 else {
            close(pair[0])
            logger.error("cannot start a worker: \(String(cString: strerror(result)))")
            return nil
        }
        controls[pid] = pair[0]
        return pid
    }

    /// The supervisor's environment without systemd's notification variables,
    /// plus the env file's settings (the environment wins) and the slot.
    private func workerEnvironment(slot: Int) -> [String] {
        var entries: [String] = []
        var names: Set<Substring> = []
        var entry = environ
        while let pointer = entry.pointee {
            let text = String(cString: pointer)
            let name = text.prefix { $0 != "=" }
            if !["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"].contains(name) && !WorkerContract.variables.contains(String(name)) {
                entries.append(text)
                names.insert(name)
            }
            entry += 1
        }
        entries += machine.policy.workerEnvironment.filter { !names.contains($0.prefix { $0 != "=" }) }
        entries += [
            "\(WorkerContract.slotVariable)=\(slot)", "\(WorkerContract.slotsVariable)=\(listeners.count)", "\(WorkerContract.supervisorVariable)=\(getpid())",
        ]
        if metricsListener != nil { entries.append("\(WorkerContract.metricsVariable)=1") }
        if let sharedDirectory { entries.append("\(WorkerContract.sharedDirectoryVariable)=\(sharedDirectory)") }
        return entries
    }
}
