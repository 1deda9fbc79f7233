import Logging
import NIOPosix
import PostgresClient

/// A pool on `url` with its own blocking threads, shut down after `body`.
public func withPool<Result>(
    url: String, maxConnections: Int = 3,
    _ body: (PostgresConnectionPool) async throws -> Result
) async throws -> Result {
    let threadPool = NIOThreadPool(numberOfThreads: maxConnections)
    threadPool.start()
    let pool = PostgresConnectionPool(
        configuration: .init(url: url, maxConnections: maxConnections, connectTimeoutSeconds: 2),
        threadPool: threadPool,
        eventLoop: MultiThreadedEventLoopGroup.singleton.any(),
        logger: Logger(label: "test"))
    defer { pool.shutdown() }
    let result = try await body(pool)
    try await threadPool.shutdownGracefully()
    return result
}
