import Logging
import NIOCore
import NIOPosix
import Primitives
import Synchronization

/// A worker's Redis client: up to `maxConnections` pipelined connections.
///
/// Callers never fail because the pool is busy: each command goes to the
/// least busy connection and is pipelined behind the others. A new connection
/// is opened while every open one is busy and the pool has room. When Redis is
/// unreachable, calls fail at once with `.connectionFailed` while the client
/// retries with exponential backoff (so callers never hang on a dead Redis),
/// and the first call after Redis returns reconnects. Every call has a
/// deadline. A Redis that stops answering (paused, swapping) costs one
/// caller its deadline, not every caller: while any connection's oldest
/// command is overdue, calls fail at once with `.timeout`. Thread-safe.
public final class RedisClient: Sendable {
    /// Where Redis is and how hard to try.
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public var password: String?
        public var database: Int
        public var maxConnections: Int
        public var connectTimeout: Duration
        /// The first and the largest pause between failed connection attempts.
        public var backoff: ClosedRange<Duration>

        public init(
            host: String, port: Int, password: String? = nil, database: Int = 0, maxConnections: Int = 10,
            connectTimeout: Duration = .seconds(1), backoff: ClosedRange<Duration> = .milliseconds(50)...Duration.seconds(2)
        ) {
            self.host = host
            self.port = port
            self.password = password
            self.database = database
            self.maxConnections = maxConnections
            self.connectTimeout = connectTimeout
            self.backoff = backoff
        }
    }

    /// What a call does while Redis owes an earlier call a reply past its deadline.
    public enum StallPolicy: Sendable {
        /// Fails at once with `.timeout`: a request waits for a stalled Redis once, not at every call.
        case failFast
        /// Is sent anyway, to run as soon as Redis resumes: background deliveries
        /// that must land (settlements), which would otherwise wait out a retry pause.
        case queue
    }

    /// A caller waiting for a connection to open, and its deadline.
    private struct Waiter {
        let continuation: CheckedContinuation<RedisConnection, any Error>
        let deadline: Scheduled<Void>

        func resume(_ result: Result<RedisConnection, RedisError>) {
            deadline.cancel()
            continuation.resume(with: result.mapError { $0 as any Error })
        }
    }

    public let configuration: Configuration
    private let group: any EventLoopGroup
    private let logger: Logger
    private let state: Mutex<ConnectingStateMachine<RedisConnection, Waiter>>

    public init(configuration: Configuration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger) {
        self.configuration = configuration
        state = Mutex(ConnectingStateMachine(maxConnections: configuration.maxConnections, backoff: configuration.backoff))
        self.group = group
        self.logger = logger
    }

    /// Sends a command and returns its reply.
    /// - Parameter timeout: the whole call's deadline, connecting included.
    /// - Throws: ``RedisError``: `.serverError` for an error reply, `.timeout`,
    ///   `.connectionFailed`, `.connectionClosed`.
    @discardableResult
    public func send(_ arguments: [String], timeout: Duration, whenStalled: StallPolicy = .failFast) async throws(RedisError) -> RESPValue {
        let deadline = ContinuousClock.now + timeout
        let connection = try await connection(deadline: deadline, whenStalled: whenStalled)
        let remaining = max(deadline - ContinuousClock.now, .milliseconds(1))
        let reply = try await connection.send(arguments.map { Array($0.utf8) }, timeout: .nanoseconds(remaining.nanoseconds))
        if case .error(let message) = reply {
            throw RedisError(code: .serverError, message: message)
        }
        return reply
    }

    /// Whether Redis answers PING within `timeout` (health checks).
    public func isHealthy(timeout: Duration) async -> Bool {
        (try? await send(["PING"], timeout: timeout))?.string == "PONG"
    }

    /// Runs a Lua script with EVALSHA, falling back to EVAL when Redis does not
    /// have it cached (after a restart or SCRIPT FLUSH); EVAL caches it again.
    public func run(
        _ script: RedisScript, keys: [String], arguments: [String], timeout: Duration, whenStalled: StallPolicy = .failFast
    ) async throws(RedisError) -> RESPValue {
        let tail = [String(keys.count)] + keys + arguments
        do {
            return try await send(["EVALSHA", script.sha1] + tail, timeout: timeout, whenStalled: whenStalled)
        } catch where error.code == .serverError && error.message.hasPrefix("NOSCRIPT") {
            return try await send(["EVAL", script.source] + tail, timeout: timeout, whenStalled: whenStalled)
        }
    }

    /// Closes every connection and fails waiting callers; later calls throw `.shutDown`.
    public func shutdown() {
        let (connections, waiters) = state.withLock { $0.shutdown() }
        connections.forEach { $0.close() }
        for waiter in waiters { waiter.resume(.failure(ConnectingStateMachine<RedisConnection, Waiter>.shutDown)) }
    }

    /// Open connections; for tests and health.
    public var connectionCount: Int { state.withLock { $0.open.count } }

    /// Open connections with a command in flight (they are shared: each
    /// pipelines many callers) or idle, and callers waiting for one to open: for the metrics.
    public var usage: (inUse: Int, idle: Int, waiters: Int) {
        state.withLock { state in
            let open = state.open
            let busy = open.count { $0.load > 0 }
            return (busy, open.count - busy, state.waiting)
        }
    }

    // MARK: - Choosing a connection

    private func connection(deadline: ContinuousClock.Instant, whenStalled: StallPolicy) async throws(RedisError) -> RedisConnection {
        switch state.withLock({ $0.choose(failFast: whenStalled == .failFast, now: .now) }) {
        case .use(let connection):
            return connection
        case .useAndOpen(let connection):
            startConnecting()
            return connection
        case .fail(let error):
            throw error
        case .open:
            startConnecting()
            return try await waitForConnection(deadline: deadline)
        case .wait:
            return try await waitForConnection(deadline: deadline)
        }
    }

    private func waitForConnection(deadline: ContinuousClock.Instant) async throws(RedisError) -> RedisConnection {
        do {
            return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<RedisConnection, any Error>) in
                let queued = Mutex<Int?>(nil)
                let timer = group.any().scheduleTask(in: .nanoseconds(max(deadline - .now, .zero).nanoseconds)) { [self] in
                    if let id = queued.withLock({ $0 }) { timeOut(waiter: id) }
                }
                let waiter = Waiter(continuation: continuation, deadline: timer)
                // The attempt may have finished before this waiter was registered: then nobody would wake it.
                let waiting = state.withLock { state in
                    let waiting = state.wait(waiter)
                    if case .queued(let id) = waiting { queued.withLock { $0 = id } }
                    return waiting
                }
                switch waiting {
                case .settled(let result): waiter.resume(result)
                case .queued(let id) where deadline <= .now:  // the timer may have fired before the id was known
                    timeOut(waiter: id)
                case .queued: break
                }
            }
        } catch let error as RedisError {
            throw error
        } catch {
            throw RedisError(code: .connectionFailed, message: "\(error)")
        }
    }

    private func timeOut(waiter id: Int) {
        state.withLock { $0.fail(waiter: id) }?.resume(.failure(RedisError(code: .timeout, message: "no connection to Redis within the call's deadline")))
    }

    /// Opens one connection (bounded by `maxConnections`), then serves the
    /// waiters; all on the event loop, so it proceeds even when every Swift
    /// concurrency thread is busy.
    private func startConnecting() {
        RedisConnection.connect(
            host: configuration.host, port: configuration.port, password: configuration.password,
            database: configuration.database, timeout: .nanoseconds(configuration.connectTimeout.nanoseconds), group: group
        ).whenComplete { [self] result in
            finishConnecting(result.mapError { ($0 as? RedisError) ?? RedisError(code: .connectionFailed, message: "\($0)") })
        }
    }

    private func finishConnecting(_ result: Result<RedisConnection, RedisError>) {
        let finished = state.withLock { $0.finishConnecting(result, now: .now) }
        switch result {
        case .success(let connection):
            if finished.closeAgain { connection.close(); return }
            // At start too: the guide's troubleshooting looks for this line.
            if finished.wasFailing || finished.firstConnection { logger.info("Redis client connected successfully", metadata: ["host": "\(configuration.host):\(configuration.port)"]) }
        case .failure(let error):
            if !finished.wasFailing { logger.error("Failed to connect to Redis: \(error.message)") }
        }
        for waiter in finished.waiters { waiter.resume(result) }
    }
}
