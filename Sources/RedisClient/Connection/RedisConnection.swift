import NIOCore
import NIOPosix
import Synchronization

/// One pipelined connection to Redis: any number of callers may send at
/// once; replies come back in order. Thread-safe.
final class RedisConnection: Sendable {
    let channel: any Channel
    private let inFlight = Atomic<Int>(0)

    private init(channel: any Channel) {
        self.channel = channel
    }

    /// Connects, then authenticates and selects the database.
    /// - Throws: ``RedisError`` `.connectionFailed`.
    static func connect(
        host: String, port: Int, password: String?, database: Int,
        timeout: TimeAmount, group: any EventLoopGroup
    ) async throws(RedisError) -> RedisConnection {
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(timeout)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(RedisChannelHandler()) }
                }
                .connect(host: host, port: port)
                .get()
        } catch {
            throw RedisError(code: .connectionFailed, message: "cannot connect to \(host):\(port): \(error)")
        }
        let connection = RedisConnection(channel: channel)
        do {
            if let password { try await connection.expectOK(["AUTH", password], timeout: timeout, what: "AUTH") }
            if database != 0 { try await connection.expectOK(["SELECT", String(database)], timeout: timeout, what: "SELECT \(database)") }
        } catch {
            connection.close()
            throw RedisError(code: .connectionFailed, message: error.message)
        }
        return connection
    }

    private func expectOK(_ command: [String], timeout: TimeAmount, what: String) async throws(RedisError) {
        let reply = try await send(command.map { Array($0.utf8) }, timeout: timeout)
        if case .error(let message) = reply {
            throw RedisError(code: .connectionFailed, message: "\(what) refused: \(message)")
        }
    }

    /// Requests sent and not yet answered (or timed out); the pool sends to the least busy connection.
    var load: Int { inFlight.load(ordering: .relaxed) }

    var isActive: Bool { channel.isActive }

    /// Sends one command and waits for its reply. An error reply is returned, not thrown.
    /// - Throws: ``RedisError`` `.timeout`, `.connectionClosed` or `.protocolError`.
    func send(_ arguments: [[UInt8]], timeout: TimeAmount) async throws(RedisError) -> RESPValue {
        inFlight.add(1, ordering: .relaxed)
        defer { inFlight.subtract(1, ordering: .relaxed) }
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
        do {
            return try await promise.futureResult.get()
        } catch let error as RedisError {
            throw error
        } catch {
            throw RedisError(code: .connectionClosed, message: "\(error)")
        }
    }

    func close() {
        channel.close(promise: nil)
    }
}
