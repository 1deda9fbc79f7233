import NIOCore
import NIOHTTPTypes

/// Closes a connection whose request has not arrived whole within `timeout`
/// of its first byte, so that a client trickling its head or its body a byte
/// at a time (slowloris) cannot hold a connection: the idle timeout alone
/// restarts at every byte. Sits before the HTTP decoder, where bytes arrive;
/// ``RequestEndSignal``, after it, says when a request has been read whole.
/// Waiting for the response, or idle between requests, runs no deadline.
final class RequestReadDeadline: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The outbound user event ``RequestEndSignal`` sends at each request's end.
    struct RequestRead {}

    private let timeout: TimeAmount
    private var deadline: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if deadline == nil {
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            deadline = context.eventLoop.scheduleTask(in: timeout) { bound.value.close(promise: nil) }
        }
        context.fireChannelRead(data)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard event is RequestRead else { return context.triggerUserOutboundEvent(event, promise: promise) }
        deadline?.cancel()
        deadline = nil
        promise?.succeed()
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }
}
