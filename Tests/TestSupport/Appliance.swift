import Foundation

/// The real scribes-assistant binary serving on an ephemeral port
/// (PORT=0 + --port-file) against its own migrated database and the test Redis.
public final class Appliance: Sendable {
    public let port: Int
    public let pid: pid_t
    public let databaseURL: String
    /// The cluster's administrative URL the database was created with (and is dropped with).
    let adminURL: String
    public let directory: String
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// The settings every test appliance runs with; `environment` overrides them.
    public static func baseEnvironment(databaseURL: String) throws -> [String: String?] {
        [
            "DATABASE_URL": databaseURL,
            "REDIS_HOST": "127.0.0.1",
            "REDIS_PORT": String(try TestEnvironment.redisPort),
            "JWT_SECRET": "test-secret-0123456789abcdef0123456789",
            "LLM_PROVIDER": "local",
            "HOST": "127.0.0.1",
            "PORT": "0",
            "BCRYPT_COST": "4",
            "RATE_LIMIT_TIMEOUT_MS": "1000",
            "LOG_LEVEL": "info",
            // Tests share one Redis: limits and the answer cache are on only in the tests about them, each with a Redis of its own.
            "RATE_LIMITING_ENABLED": "false",
            "CACHE_ENABLED": "false",
        ]
    }

    /// Creates a database, migrates it, imports `library` (JSONL) if given, adds
    /// `users` (email → password; ids 1, 2, … in email order), and starts the binary.
    /// `arguments` go to `serve` (e.g. `--env-file`); `serveEnvironment` is
    /// added for `serve` only, not the setup commands (e.g. an LD_PRELOAD).
    /// `adminURL`: another cluster than the test one (a ``PrivatePostgres``).
    /// `journal`: the log is announced as the journal's stream (`JOURNAL_STREAM`), as systemd does.
    public init(
        library: String? = nil, users: [String: String] = [:], environment: [String: String?] = [:], arguments: [String] = [],
        serveEnvironment: [String: String] = [:], adminURL: String? = nil, journal: Bool = false
    ) throws {
        let admin = try adminURL ?? TestEnvironment.databaseURL
        self.adminURL = admin
        let name = "scribes_e2e_\(UInt64.random(in: 0...UInt64.max))"
        _ = try ProcessRunner.run("/usr/bin/psql", [admin, "-qc", "CREATE DATABASE \(name)"])
        databaseURL = TestDatabase.url(admin, database: name)
        let settings = try Self.baseEnvironment(databaseURL: databaseURL).merging(environment) { $1 }
        try Self.check(ProcessRunner.scribes(["migrate"], environment: settings))
        if let library { try Self.check(ProcessRunner.scribes(["library", "import", library], environment: settings)) }
        for (email, password) in users.sorted(by: { $0.key < $1.key }) {
            try Self.check(ProcessRunner.scribes(["users", "add", "--email", email, "--password-stdin"], environment: settings, input: password))
        }
        directory = try ProcessRunner.emptyDirectory()
        let portFile = directory + "/port"
        var serveEnvironment = serveEnvironment
        if journal { serveEnvironment["JOURNAL_STREAM"] = try Self.streamIdentity(creating: directory + "/log") }
        pid = try ProcessRunner.spawn(
            TestEnvironment.binaryPath, ["serve", "--port-file", portFile] + arguments,
            environment: settings.merging(serveEnvironment) { $1 }, logPath: directory + "/log")
        var port = 0
        try waitUntil("the appliance writes its port") {
            port = (try? String(contentsOfFile: portFile, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
            return port > 0
        }
        self.port = port
    }

    /// The worker processes' pids (the supervisor's children).
    public func workerPIDs() -> [pid_t] {
        let children = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
        return children.split(separator: " ").compactMap { pid_t($0) }
    }

    /// Sends SIGTERM to the supervisor and waits for it: its exit status and how long it took.
    public func terminate() -> (status: Int32, seconds: Double) {
        let start = Date()
        kill(pid, SIGTERM)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return ((status >> 8) & 0xff, Date().timeIntervalSince(start))
    }

    /// What the appliance logged so far.
    public var log: String { (try? String(contentsOfFile: directory + "/log", encoding: .utf8)) ?? "" }

    /// The log lines containing `text`.
    public func logLines(containing text: String) -> [Substring] {
        log.split(separator: "\n").filter { $0.contains(text) }
    }

    deinit {
        if kill(pid, 0) == 0 {
            kill(pid, SIGTERM)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        _ = try? ProcessRunner.run("/usr/bin/psql", [adminURL, "-qc", "DROP DATABASE IF EXISTS \(URL(string: databaseURL)!.lastPathComponent) WITH (FORCE)"])
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// `device:inode` of `path` (created empty), as systemd puts a stream's in `JOURNAL_STREAM`.
    static func streamIdentity(creating path: String) throws -> String {
        FileManager.default.createFile(atPath: path, contents: nil)
        var status = stat()
        guard stat(path, &status) == 0 else { throw TestEnvironmentError(message: "cannot stat \(path)") }
        return "\(status.st_dev):\(status.st_ino)"
    }

    static func check(_ output: ProcessOutput) throws {
        guard output.status == 0 else { throw TestEnvironmentError(message: "setup command failed (\(output.status)): \(output.standardError)") }
    }
}
