import Foundation
import Synchronization

/// What a finished child process printed and how it exited.
public struct ProcessOutput: Sendable {
    /// The exit status, or 128 + the signal number when a signal ended it.
    public let status: Int32
    public let standardOutput: String
    public let standardError: String
}

/// Runs programs for tests (the real binary, pg_ctl, redis-cli) with
/// posix_spawn and waitpid.
///
/// Foundation's `Process` is not used: it notices a child's exit through a
/// descriptor that a daemon started by the child (pg_ctl's postgres)
/// inherits, and then waits forever. Output goes to files for the same reason.
public enum ProcessRunner {
    /// Runs `executable` to completion.
    /// - Parameters:
    ///   - environment: added to (and overriding) the test process's environment; nil values remove a key.
    ///   - input: given as standard input.
    public static func run(
        _ executable: String, _ arguments: [String],
        environment: [String: String?] = [:], input: String? = nil, directory: String? = nil
    ) throws -> ProcessOutput {
        let scratch = try emptyDirectory()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let inputPath = scratch + "/stdin", outputPath = scratch + "/stdout", errorPath = scratch + "/stderr"
        try (input ?? "").write(toFile: inputPath, atomically: false, encoding: .utf8)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, inputPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, errorPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)

        var merged = ProcessInfo.processInfo.environment
        for (key, value) in environment { merged[key] = value }
        // env -C changes directory (posix_spawn_file_actions_addchdir_np is not imported).
        let command = directory.map { ["/usr/bin/env", "-C", $0, executable] } ?? [executable]
        let argv = (command + arguments).map { strdup($0) } + [nil]
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }

        var pid: pid_t = 0
        let spawned = withShellSignals { posix_spawn(&pid, command[0], &actions, $0, argv, envp) }
        guard spawned == 0 else {
            throw TestEnvironmentError(message: "cannot run \(executable): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exited = status & 0x7f == 0
        return ProcessOutput(
            status: exited ? (status >> 8) & 0xff : 128 + (status & 0x7f),
            standardOutput: (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "",
            standardError: (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "")
    }

    /// Starts `executable` and returns at once with its pid; its output goes to `logPath`.
    public static func spawn(_ executable: String, _ arguments: [String], environment: [String: String?] = [:], logPath: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var merged = ProcessInfo.processInfo.environment
        for (key, value) in environment { merged[key] = value }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = withShellSignals { posix_spawn(&pid, executable, &actions, $0, argv, envp) }
        guard spawned == 0 else { throw TestEnvironmentError(message: "cannot start \(executable): \(String(cString: strerror(spawned)))") }
        SpawnedProcesses.shared.add(pid)
        return pid
    }

    /// Spawn attributes for a child that starts as from a shell: no signal
    /// blocked, every disposition the default. posix_spawn otherwise inherits
    /// the calling thread's mask, and the test runner's threads block most
    /// signals (a bash started that way never saw its SIGTERM).
    static func withShellSignals<Result>(_ body: (UnsafePointer<posix_spawnattr_t>) -> Result) -> Result {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var (none, all) = (sigset_t(), sigset_t())
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        return body(&attributes)
    }

    /// Runs the scribes-assistant binary in an empty directory (so no stray ./.env is read).
    public static func scribes(_ arguments: [String], environment: [String: String?] = [:], input: String? = nil, directory: String? = nil) throws -> ProcessOutput {
        try run(TestEnvironment.binaryPath, arguments, environment: environment, input: input, directory: directory ?? emptyDirectory())
    }

    /// A fresh empty directory under the temporary directory.
    public static func emptyDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("scribes-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

/// Every process `spawn` started, sent SIGTERM when the test process exits,
/// so that an appliance held by a global (never deinitialised) does not outlive the run.
final class SpawnedProcesses: Sendable {
    static let shared: SpawnedProcesses = {
        atexit { SpawnedProcesses.shared.terminateAll() }
        return SpawnedProcesses()
    }()

    private let pids = Mutex<[pid_t]>([])

    func add(_ pid: pid_t) { pids.withLock { $0.append(pid) } }

    func terminateAll() {
        for pid in pids.withLock({ $0 }) { kill(pid, SIGTERM) }
    }
}
