import NIOCore
import NIOHTTPTypes

/// Tells ``RequestReadDeadline`` each time a request has been read whole.
final class RequestEndSignal: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .end = unwrapInboundIn(data) {
            context.triggerUserOutboundEvent(RequestReadDeadline.RequestRead(), promise: nil)
        }
        context.fireChannelRead(data)
    }
}
