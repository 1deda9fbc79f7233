import Logging
import NIOPosix
import PostgresClient
import RedisClient
import Settings

/// The connections and threads a worker holds for its whole life, opened
/// together and closed together, last (``BackgroundService/closing(_:)``).
struct WorkerPools: Sendable {
    let database: PostgresConnectionPool
    let redis: RedisClient
    /// bcrypt on a thread of its own: a burst of logins (each ~0.3 s of CPU at
    /// cost 12) queues there instead of starving the database's calls (100
    /// logins at once made every request wait 10 s for a connection, then 503).
    let hashing: NIOThreadPool
    /// The sentence model's inference (~5-10 ms a question), off the event loops.
    let embedding: NIOThreadPool
    /// The database's blocking libpq calls, one thread per connection (+2).
    private let databaseThreads: NIOThreadPool

    init(_ configuration: ServerConfiguration, logger: Logger) {
        databaseThreads = NIOThreadPool(numberOfThreads: configuration.database.maxConnections + 2)
        hashing = NIOThreadPool(numberOfThreads: 1)
        embedding = NIOThreadPool(numberOfThreads: 1)
        for pool in [databaseThreads, hashing, embedding] { pool.start() }
        database = PostgresConnectionPool(
            configuration: .init(url: configuration.database.url, maxConnections: configuration.database.maxConnections, statementTimeoutMilliseconds: 30_000),
            threadPool: databaseThreads, eventLoop: MultiThreadedEventLoopGroup.singleton.any(), logger: logger)
        redis = RedisClient(configuration.redis, logger: logger)
    }

    func close() async {
        database.shutdown()
        redis.shutdown()
        for pool in [databaseThreads, hashing, embedding] { try? await pool.shutdownGracefully() }
    }
}
