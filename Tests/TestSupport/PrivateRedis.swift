import Foundation

/// A redis-server of a test's own, for tests that stop, pause or restart it.
public final class PrivateRedis: Sendable {
    public let port: Int
    public let directory: String
    let password: String?
    /// Every write is on disk before it is acknowledged (an append-only file
    /// synced at each write): a SIGKILL loses nothing acknowledged.
    let durable: Bool

    /// Starts redis-server on a free loopback port.
    public init(password: String? = nil, durable: Bool = false) throws {
        self.port = try freeLoopbackPort()
        self.directory = try ProcessRunner.emptyDirectory()
        self.password = password
        self.durable = durable
        try start()
    }

    /// The server's process id while it runs.
    public var pid: pid_t? {
        (try? String(contentsOfFile: "\(directory)/redis.pid", encoding: .utf8)).flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    public func start() throws {
        var arguments = [
            "--port", String(port), "--bind", "127.0.0.1", "--dir", directory, "--save", "",
            "--appendonly", durable ? "yes" : "no", "--appendfsync", "always",
            "--daemonize", "yes", "--pidfile", "\(directory)/redis.pid", "--logfile", "\(directory)/redis.log",
        ]
        if let password { arguments += ["--requirepass", password] }
        let output = try ProcessRunner.run("/usr/bin/redis-server", arguments)
        guard output.status == 0 else { throw TestEnvironmentError(message: "redis-server failed: \(output.standardError)") }
        do {
            try waitUntil("redis-server answers") { (try? cli(["PING"]))?.contains("PONG") == true }
        } catch {
            let log = (try? String(contentsOfFile: "\(directory)/redis.log", encoding: .utf8)) ?? ""
            throw TestEnvironmentError(message: "redis-server on port \(port) did not answer; its log ends: \(log.suffix(600))")
        }
    }

    /// Stops the server and waits until its process is gone.
    public func stop() throws {
        guard let text = try? String(contentsOfFile: "\(directory)/redis.pid", encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { return }
        kill(pid, SIGKILL)
        // Its parent is init, which may be slow to reap it: wait for the port instead.
        try waitUntil("redis-server stops answering") { (try? cli(["PING"]))?.contains("PONG") != true }
        try? FileManager.default.removeItem(atPath: "\(directory)/redis.pid")
    }

    /// Runs redis-cli against this server and returns its output.
    @discardableResult
    public func cli(_ arguments: [String]) throws -> String {
        var prefix = ["-p", String(port)]
        if let password { prefix += ["-a", password, "--no-auth-warning"] }
        return try ProcessRunner.run("/usr/bin/redis-cli", prefix + arguments).standardOutput
    }

    deinit {
        try? stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Polls `condition` every 20 ms for up to `timeout`.
public func waitUntil(_ what: String, timeout: Duration = .seconds(10), _ condition: () throws -> Bool) throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try condition() { return }
        usleep(20_000)
    }
    throw TestEnvironmentError(message: "timed out waiting until \(what)")
}
