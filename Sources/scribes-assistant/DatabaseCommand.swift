import DurationUnits
import ArgumentParser
import Settings
import Logging
import NIOPosix
import PostgresClient
import Store

/// The PostgreSQL pool and blocking thread pool of a data command, shut down when it ends.
struct DatabaseCommandContext {
    let pool: PostgresConnectionPool
    let threadPool: NIOThreadPool
    let logger: Logger

    /// Runs `body` with a pool for `settings`, then shuts everything down.
    /// Errors become one line on standard error and a sysexits status.
    @discardableResult
    static func run<Result>(_ settings: DatabaseSettings, _ body: (DatabaseCommandContext) async throws -> Result) async throws -> Result {
        let logger = commandLogger()
        // One thread per connection plus one for bcrypt.
        let threadPool = NIOThreadPool(numberOfThreads: settings.maxConnections + 1)
        threadPool.start()
        let pool = PostgresConnectionPool(
            configuration: .init(url: settings.url, maxConnections: settings.maxConnections),
            threadPool: threadPool,
            eventLoop: MultiThreadedEventLoopGroup.singleton.any(),
            logger: logger)
        defer { pool.shutdown() }
        do {
            let result = try await body(DatabaseCommandContext(pool: pool, threadPool: threadPool, logger: logger))
            try await threadPool.shutdownGracefully()
            return result
        } catch {
            try? await threadPool.shutdownGracefully()
            printError("scribes-assistant: \(error)")
            throw ExitCode(Self.exitStatus(for: error))
        }
    }

    /// sysexits(3) statuses, so scripts can tell bad data from an unreachable database.
    static func exitStatus(for error: any Error) -> Int32 {
        switch error {
        case let error as StoreError:
            switch error.code {
            case .invalidInput, .invalidImport, .duplicateEmail: 65  // EX_DATAERR
            case .unreadableFile: 66  // EX_NOINPUT
            case .schemaOutdated, .schemaTooNew: 78  // EX_CONFIG
            default: 1
            }
        case let error as PostgresError where error.code == .connectionFailed || error.code == .connectionLost:
            69  // EX_UNAVAILABLE
        default:
            1
        }
    }
}

/// `--skip-invalid` for the import commands.
struct ImportOptions: ParsableArguments {
    @Flag(help: "Skip invalid lines (each is reported) instead of importing nothing.")
    var skipInvalid = false

    var mode: ImportMode { skipInvalid ? .skipInvalid : .allOrNothing }
}

extension ImportSummary {
    /// One line for the operator, plus one per skipped line.
    func report(noun: String, seconds: Double) -> String {
        var lines = ["imported \(inserted) \(noun) (\(alreadyPresent) already present, \(invalid.count) invalid lines skipped) in \(seconds.formatted(decimals: 2)) s"]
        lines += invalid.map { "  skipped \($0)" }
        return lines.joined(separator: "\n")
    }
}

extension Double {
    func formatted(decimals: Int) -> String {
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let rounded = (self * scale).rounded() / scale
        return "\(rounded)"
    }
}

/// Seconds elapsed since `start`.
func secondsSince(_ start: ContinuousClock.Instant) -> Double { (ContinuousClock.now - start).seconds }

/// A data command's logger: warnings and errors only, since commands print their own results.
func commandLogger() -> Logger {
    var logger = Logger(label: "scribes-assistant")
    logger.logLevel = .warning
    return logger
}
