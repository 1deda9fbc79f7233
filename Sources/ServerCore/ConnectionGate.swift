import NIOCore

/// Stops a listener accepting while its worker's ``ConnectionLimit`` is
/// reached, and counts the connections it accepts. On the listening channel:
/// an accept happens only when a `read` reaches the socket, so holding the
/// `read` back leaves connections in the kernel's queue. One read accepts up
/// to `maxMessagesPerRead` (4) connections; the reserve covers that overshoot.
final class ConnectionGate: ChannelDuplexHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel
    typealias OutboundIn = Never

    private let connections: ConnectionLimit

    init(connections: ConnectionLimit) {
        self.connections = connections
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let connections = connections
        connections.opened()
        unwrapInboundIn(data).closeFuture.whenComplete { _ in connections.closed() }
        context.fireChannelRead(data)
    }

    func read(context: ChannelHandlerContext) {
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        let room = connections.hasRoom {
            loop.execute {
                let (gate, context) = bound.value
                // Stopped accepting meanwhile (a drain): the held read is dropped.
                guard (try? context.channel.syncOptions?.getOption(.autoRead)) == true else { return }
                gate.read(context: context)
            }
        }
        if room { context.read() }
    }
}
