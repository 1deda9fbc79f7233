import NIOCore
import NIOPosix
import Synchronization

/// One pipelined connection to Redis: any number of callers may send at
/// once; replies come back in order. Thread-safe.
final class RedisConnection: Sendable {
    let channel: any Channel
    private let inFlight = Atomic<Int>(0)
    private let stalled: StallFlag

    private init(channel: any Channel, stalled: StallFlag) {
        self.channel = channel
        self.stalled = stalled
    }

    /// Connects, then authenticates and selects the database, entirely on
    /// the event loop (no task needs to be scheduled for a connection to open).
    /// Fails with ``RedisError`` `.connectionFailed`.
    static func connect(
        host: String, port: Int, password: String?, database: Int,
        timeout: TimeAmount, group: any EventLoopGroup
    ) -> EventLoopFuture<RedisConnection> {
        let setup: [(command: [String], what: String)] =
            (password.map { [(["AUTH", $0], "AUTH")] } ?? []) + (database != 0 ? [(["SELECT", String(database)], "SELECT \(database)")] : [])
        let stalled = StallFlag()
        return ClientBootstrap(group: group)
            .connectTimeout(timeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(RedisChannelHandler(stalled: stalled)) }
            }
            .connect(host: host, port: port)
            .flatMapError { error in
                group.any().makeFailedFuture(RedisError(code: .connectionFailed, message: "cannot connect to \(host):\(port): \(error)"))
            }
            .flatMap { channel in
                let connection = RedisConnection(channel: channel, stalled: stalled)
                let ready = setup.reduce(channel.eventLoop.makeSucceededVoidFuture()) { previous, step in
                    previous.flatMap {
                        connection.sendFuture(step.command.map { Array($0.utf8) }, timeout: timeout).flatMapThrowing { reply in
                            if case .error(let message) = reply {
                                throw RedisError(code: .connectionFailed, message: "\(step.what) refused: \(message)")
                            }
                        }
                    }
                }
                return ready.map { connection }.flatMapErrorThrowing { error in
                    connection.close()
                    throw (error as? RedisError).map { RedisError(code: .connectionFailed, message: $0.message) } ?? error
                }
            }
    }

    /// Requests sent and not yet answered (or timed out); the pool sends to the least busy connection.
    var load: Int { inFlight.load(ordering: .relaxed) }

    var isActive: Bool { channel.isActive }

    /// Whether Redis owes this connection a reply past its deadline (see ``RedisChannelHandler``).
    var isStalled: Bool { stalled.isSet }

    /// Sends one command and waits for its reply. An error reply is returned, not thrown.
    /// - Throws: ``RedisError`` `.timeout`, `.connectionClosed` or `.protocolError`.
    func send(_ arguments: [[UInt8]], timeout: TimeAmount) async throws(RedisError) -> RESPValue {
        inFlight.add(1, ordering: .relaxed)
        defer { inFlight.subtract(1, ordering: .relaxed) }
        do {
            return try await sendFuture(arguments, timeout: timeout).get()
        } catch let error as RedisError {
            throw error
        } catch {
            throw RedisError(code: .connectionClosed, message: "\(error)")
        }
    }

    /// The reply to one command, as a future.
    func sendFuture(_ arguments: [[UInt8]], timeout: TimeAmount) -> EventLoopFuture<RESPValue> {
        var buffer = channel.allocator.buffer(capacity: 64)
        buffer.writeBytes(formatCommand(arguments))
        let promise = channel.eventLoop.makePromise(of: RESPValue.self)
        // A write to a closed channel never reaches the handler: fail the caller
        // from the write's result (completing an answered promise again is a no-op).
        let written = channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { _ in
            promise.fail(RedisError(code: .connectionClosed, message: "the connection to Redis is closed"))
        }
        channel.writeAndFlush(RedisRequest(bytes: buffer, promise: promise, timeout: timeout), promise: written)
        return promise.futureResult
    }

    func close() {
        channel.close(promise: nil)
    }
}
