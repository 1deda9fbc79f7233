import NIOCore
import Primitives
import Synchronization

/// A command on its way to Redis: its RESP bytes and who waits for the reply.
struct RedisRequest {
    let bytes: ByteBuffer
    let promise: EventLoopPromise<RESPValue>
    let timeout: TimeAmount
}

/// Matches replies to requests in order on one pipelined connection.
///
/// Event-loop confined. A request whose deadline passes is failed with
/// `.timeout` at once but keeps its place in the queue, so the reply that
/// arrives later is matched to it and dropped instead of to the next caller.
/// While the oldest request is past its deadline (Redis stalled: paused,
/// swapping, a slow script) the connection says so, and ``RedisClient``
/// fails new calls at once; the first reply ends the stall.
final class RedisChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = ByteBuffer

    private final class Pending {
        let promise: EventLoopPromise<RESPValue>
        var deadline: Scheduled<Void>?
        var isDone = false
        var isOverdue = false
        init(promise: EventLoopPromise<RESPValue>) { self.promise = promise }

        func complete(_ result: Result<RESPValue, RedisError>) {
            guard !isDone else { return }
            isDone = true
            deadline?.cancel()
            promise.completeWith(result.mapError { $0 as any Error })
        }
    }

    private let reader = RedisReplyReader()
    private var pending = CircularBuffer<Pending>()
    private var closedError: RedisError?
    /// Shared with ``RedisConnection``, whose pool prefers connections that are not stalled.
    private let stalled: StallFlag

    init(stalled: StallFlag) {
        self.stalled = stalled
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        if let closedError {
            request.promise.fail(closedError)
            promise?.fail(closedError)
            return
        }
        let entry = Pending(promise: request.promise)
        let bound = NIOLoopBound((self, entry), eventLoop: context.eventLoop)
        entry.deadline = context.eventLoop.scheduleTask(in: request.timeout) {
            let (handler, entry) = bound.value
            entry.isOverdue = true
            handler.updateStall()  // before the caller resumes and calls again
            entry.complete(.failure(RedisError(code: .timeout, message: "no reply within \(request.timeout.nanoseconds / 1_000_000) ms")))
        }
        pending.append(entry)
        context.write(wrapOutboundOut(request.bytes), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        buffer.withUnsafeReadableBytes { reader.feed($0) }
        do {
            while let reply = try reader.next() {
                guard let entry = pending.popFirst() else {
                    fail(context: context, RedisError(code: .protocolError, message: "a reply arrived with no command waiting"))
                    return
                }
                entry.complete(.success(reply))
            }
            updateStall()
        } catch {
            fail(context: context, error)
        }
    }

    private func updateStall() {
        stalled.isSet = pending.first?.isOverdue == true
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(RedisError(code: .connectionClosed, message: "the connection to Redis closed"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(context: context, RedisError(code: .connectionClosed, message: "\(error)"))
    }

    private func fail(context: ChannelHandlerContext, _ error: RedisError) {
        failAll(error)
        context.close(promise: nil)
    }

    private func failAll(_ error: RedisError) {
        closedError = closedError ?? error
        while let entry = pending.popFirst() { entry.complete(.failure(error)) }
        stalled.isSet = false
    }
}

/// Whether a connection's oldest command is past its deadline: set by its
/// ``RedisChannelHandler``, read by the pool from any thread.
final class StallFlag: Sendable {
    private let value = Atomic<Bool>(false)

    var isSet: Bool {
        get { value.load(ordering: .relaxed) }
        set { value.store(newValue, ordering: .relaxed) }
    }
}
