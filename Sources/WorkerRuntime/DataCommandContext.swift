import Logging
import NIOPosix
import PostgresClient
import Settings
import Store

/// The PostgreSQL pool and blocking thread pool of a data command, shut down when it ends.
public struct DataCommandContext {
    public let pool: PostgresConnectionPool
    public let threadPool: NIOThreadPool
    public let logger: Logger

    /// Runs `body` with a pool for `settings`, then shuts everything down, whether it threw or not.
    @discardableResult
    public static func run<Result>(_ settings: DatabaseSettings, _ body: (DataCommandContext) async throws -> Result) async throws -> Result {
        let logger = makeCommandLogger()
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
            let result = try await body(DataCommandContext(pool: pool, threadPool: threadPool, logger: logger))
            try await threadPool.shutdownGracefully()
            return result
        } catch {
            try? await threadPool.shutdownGracefully()
            throw error
        }
    }

    /// sysexits(3) statuses, so scripts can tell bad data from an unreachable database.
    public static func exitStatus(for error: any Error) -> Int32 {
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
