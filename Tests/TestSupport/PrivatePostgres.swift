import Foundation

/// A PostgreSQL cluster of a test's own, for tests that stop or restart the server.
public final class PrivatePostgres: Sendable {
    public let port: Int
    public let directory: String
    public var url: String { "postgresql://postgres@127.0.0.1:\(port)/postgres" }

    /// initdb + start on a free port (as the postgres user when running as root).
    public init() throws {
        directory = try ProcessRunner.emptyDirectory()
        port = try freeLoopbackPort()
        if getuid() == 0 { try Self.check(ProcessRunner.run("/bin/chown", ["postgres:", directory])) }
        try Self.check(Self.asPostgres(["\(TestEnvironment.postgresBin)/initdb", "-D", "\(directory)/data", "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]))
        try start()
    }

    public func start() throws {
        try Self.check(Self.asPostgres([
            "\(TestEnvironment.postgresBin)/pg_ctl", "-D", "\(directory)/data", "-l", "\(directory)/log", "-w", "-s",
            "-o", "-p \(port) -c listen_addresses=127.0.0.1 -k \(directory) -c fsync=off", "start",
        ]))
    }

    /// `mode`: pg_ctl's shutdown mode; `immediate` kills the server without a checkpoint, as a crash would.
    public func stop(mode: String = "fast") throws {
        try Self.check(Self.asPostgres(["\(TestEnvironment.postgresBin)/pg_ctl", "-D", "\(directory)/data", "-w", "-s", "-m", mode, "stop"]))
    }

    public func restart() throws {
        try stop()
        try start()
    }

    deinit {
        _ = try? stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// initdb and postgres refuse to run as root: use the postgres user then.
    static func asPostgres(_ command: [String]) throws -> ProcessOutput {
        if getuid() == 0 { return try ProcessRunner.run("/usr/sbin/runuser", ["-u", "postgres", "--"] + command) }
        return try ProcessRunner.run(command[0], Array(command.dropFirst()))
    }

    static func check(_ output: ProcessOutput) throws {
        guard output.status == 0 else {
            throw TestEnvironmentError(message: "postgres command failed (\(output.status)): \(output.standardError)")
        }
    }
}
