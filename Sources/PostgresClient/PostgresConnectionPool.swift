import DequeModule
import Logging
import NIOCore
import NIOPosix
import Primitives
import Synchronization

/// A bounded pool of PostgreSQL connections whose blocking libpq calls run on
/// a dedicated thread pool, never on an event loop or the Swift concurrency
/// pool.
///
/// Callers borrow a connection for one synchronous job (``withConnection(timeout:_:)``):
/// every statement of the job, a transaction for instance, runs on that
/// connection on one blocking thread. When all connections are busy callers
/// wait, up to their timeout, in arrival order. A connection whose server went
/// away is noticed before use and replaced, so a PostgreSQL restart costs no
/// query that starts after it.
///
/// Thread-safe.
public final class PostgresConnectionPool: Sendable {
    /// What the pool connects to and how many connections it keeps.
    public struct Configuration: Sendable {
        public var url: String
        public var maxConnections: Int
        public var connectTimeoutSeconds: Int
        public var statementTimeoutMilliseconds: Int?

        public init(url: String, maxConnections: Int, connectTimeoutSeconds: Int = 5, statementTimeoutMilliseconds: Int? = nil) {
            self.url = url
            self.maxConnections = maxConnections
            self.connectTimeoutSeconds = connectTimeoutSeconds
            self.statementTimeoutMilliseconds = statementTimeoutMilliseconds
        }
    }

    /// A caller waiting for a connection, and its deadline.
    private final class Waiter: Sendable {
        let continuation: CheckedContinuation<PostgresConnection?, any Error>
        let deadline = Mutex<Scheduled<Void>?>(nil)

        init(_ continuation: CheckedContinuation<PostgresConnection?, any Error>) {
            self.continuation = continuation
        }

        func resume(_ result: Result<PostgresConnection?, any Error>) {
            deadline.withLock { $0 }?.cancel()
            continuation.resume(with: result)
        }
    }

    /// What the caller of `acquire` got: a connection, or the right to open one.
    private typealias Grant = PostgresConnection?

    public let configuration: Configuration
    private let threadPool: NIOThreadPool
    private let eventLoop: any EventLoop
    private let state: Mutex<LendingStateMachine<PostgresConnection, Waiter>>
    private let logger: Logger

    /// - Parameters:
    ///   - threadPool: a started pool with at least `maxConnections` threads,
    ///     so every lent connection has a thread.
    ///   - eventLoop: schedules wait deadlines only; no blocking work runs on it.
    public init(configuration: Configuration, threadPool: NIOThreadPool, eventLoop: any EventLoop, logger: Logger) {
        self.configuration = configuration
        state = Mutex(LendingStateMachine(maxConnections: configuration.maxConnections))
        self.threadPool = threadPool
        self.eventLoop = eventLoop
        self.logger = logger
    }

    /// Runs `body` with a connection of its own on the blocking thread pool.
    ///
    /// - Parameter timeout: how long to wait for a free connection.
    /// - Throws: ``PostgresError`` `.poolTimeout` when none frees up in time,
    ///   `.connectionFailed` when a new one cannot be opened, or whatever `body` throws.
    public func withConnection<Result: Sendable>(
        timeout: Duration = .seconds(10),
        _ body: @escaping @Sendable (PostgresConnection) throws -> Result
    ) async throws -> Result {
        let granted = try await acquire(timeout: timeout)
        let configuration = self.configuration
        let outcome: (Swift.Result<Result, any Error>, PostgresConnection?)
        do {
            outcome = try await threadPool.runIfActive {
                var connection = granted
                do {
                    if let existing = connection, !existing.isAlive { connection = nil }
                    let live = try connection ?? PostgresConnection(
                        url: configuration.url,
                        connectTimeoutSeconds: configuration.connectTimeoutSeconds,
                        statementTimeoutMilliseconds: configuration.statementTimeoutMilliseconds)
                    connection = live
                    return (.success(try body(live)), live)
                } catch {
                    return (.failure(error), connection)
                }
            }
        } catch {
            release(granted)
            throw error
        }
        release(outcome.1?.isAlive == true ? outcome.1 : nil)
        return try outcome.0.get()
    }

    /// Runs one statement on a pooled connection.
    @discardableResult
    public func query(_ sql: String, _ parameters: [any PostgresBindable] = [], timeout: Duration = .seconds(10)) async throws -> PostgresQueryResult {
        try await withConnection(timeout: timeout) { try $0.query(sql, parameters) }
    }

    /// Whether PostgreSQL answers `SELECT 1` within `timeout`, connecting
    /// included (health checks: libpq's connect does not see the query's deadline).
    public func isHealthy(timeout: Duration) async -> Bool {
        await withDeadline(timeout, orElse: false) { (try? await self.query("SELECT 1", timeout: timeout)) != nil }
    }

    /// Closes idle connections and fails every waiter; later calls throw `.poolShutdown`.
    public func shutdown() {
        // Idle connections close (PQfinish in deinit) as the state lets go of them.
        for waiter in state.withLock({ $0.shutdown() }) { waiter.resume(.failure(Self.shutDown)) }
    }

    static let shutDown = PostgresError(code: .poolShutdown, message: "the connection pool was shut down")

    /// The number of open connections (idle or lent); for tests and health.
    public var openConnectionCount: Int { state.withLock { $0.openCount } }

    /// Connections lent out and open, and requests waiting for one: for the metrics.
    public var usage: (inUse: Int, idle: Int, waiters: Int) {
        state.withLock { ($0.openCount - $0.idle.count, $0.idle.count, $0.waiting) }
    }

    // MARK: - Lending

    /// A connection, or nil: the right to open one. Waits in line up to `timeout` when every connection is lent.
    private func acquire(timeout: Duration) async throws -> Grant {
        let queued = Mutex<Int?>(nil)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Grant, any Error>) in
                let waiter = Waiter(continuation)
                switch state.withLock({ $0.acquire(waiter) }) {
                case .grant(let grant): continuation.resume(returning: grant)
                case .shutDown: continuation.resume(throwing: Self.shutDown)
                case .wait(let id):
                    queued.withLock { $0 = id }
                    // Cancelled before the handler could see the id: nobody else will take it out of line.
                    if Task.isCancelled { return fail(waiter: id, with: CancellationError()) }
                    waiter.deadline.withLock {
                        $0 = eventLoop.scheduleTask(in: .nanoseconds(timeout.nanoseconds)) { [self] in
                            fail(waiter: id, with: PostgresError(
                                code: .poolTimeout,
                                message: "no database connection became free within \(timeout) (DATABASE_MAX_CONNECTIONS=\(configuration.maxConnections) all busy)"))
                        }
                    }
                }
            }
        } onCancel: {
            if let id = queued.withLock({ $0 }) { fail(waiter: id, with: CancellationError()) }
        }
    }

    private func fail(waiter id: Int, with error: any Error) {
        state.withLock { $0.fail(waiter: id) }?.resume(.failure(error))
    }

    /// Returns a lent connection (nil when it broke or never opened) and hands it, or its slot, to the next waiter.
    private func release(_ connection: PostgresConnection?) {
        if case .handOver(let connection, let waiter) = state.withLock({ $0.release(connection) }) { waiter.resume(.success(connection)) }
    }
}
