import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Once the worker is stopping, marks the next response on each connection
/// `Connection: close` and closes the connection after writing it.
final class CloseWhenStopping: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let connections: ConnectionRegistry
    private var closeAfterResponse = false

    init(connections: ConnectionRegistry) {
        self.connections = connections
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where connections.isClosing:
            head.headerFields[.connection] = "close"
            closeAfterResponse = true
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .end where closeAfterResponse:
            let written = promise ?? context.eventLoop.makePromise()
            context.writeAndFlush(data, promise: written)
            let channel = context.channel
            written.futureResult.whenComplete { _ in channel.close(promise: nil) }
        default:
            context.write(data, promise: promise)
        }
    }
}
