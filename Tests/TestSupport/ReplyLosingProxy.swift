import NIOCore
import NIOPosix
import Synchronization

/// A TCP proxy on loopback in front of a server (Redis) that can lose a
/// reply the way a crash or a cut cable does: once armed with a marker, it
/// passes the next client bytes containing it to the server, drops all the
/// server sends back from then on, and closes both connections once the
/// server has had time to run the command. The client sees its connection
/// close with the command in flight; the command ran.
public final class ReplyLosingProxy: Sendable {
    public let port: Int
    private let armed: ArmedMarker
    private let channel: any Channel

    /// Proxies 127.0.0.1:`port` to 127.0.0.1:`target`.
    public init(to target: Int) throws {
        let armed = ArmedMarker()
        channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { client in
                ClientBootstrap(group: client.eventLoop).connect(host: "127.0.0.1", port: target).flatMapThrowing { server in
                    let cut = Cut(client: client, server: server)
                    try client.pipeline.syncOperations.addHandler(Relay(.client(armed), to: server, cut: cut))
                    try server.pipeline.syncOperations.addHandler(Relay(.server, to: client, cut: cut))
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        port = channel.localAddress?.port ?? 0
        self.armed = armed
    }

    /// Loses the reply to the next command whose bytes contain `marker`.
    public func loseReply(toCommandContaining marker: String) {
        armed.state.withLock { $0.marker = marker }
    }

    /// Connections cut so far.
    public var cuts: Int { armed.state.withLock { $0.cuts } }

    deinit { try? channel.close().wait() }
}

/// The marker waiting for its command, shared by every connection.
final class ArmedMarker: Sendable {
    let state = Mutex<(marker: String?, cuts: Int)>((nil, 0))

    /// Whether `bytes` carry the marker; the first match disarms it.
    func takes(_ bytes: String) -> Bool {
        state.withLock { state in
            guard let marker = state.marker, bytes.contains(marker) else { return false }
            state.marker = nil
            state.cuts += 1
            return true
        }
    }
}

/// One proxied connection's two channels (on one event loop), and whether
/// its replies are being lost.
final class Cut {
    let client: any Channel
    let server: any Channel
    var losingReplies = false

    init(client: any Channel, server: any Channel) {
        self.client = client
        self.server = server
    }

    func begin(on eventLoop: any EventLoop) {
        losingReplies = true
        let (client, server) = (client, server)
        eventLoop.scheduleTask(in: .milliseconds(300)) {
            client.close(promise: nil)
            server.close(promise: nil)
        }
    }
}

/// Forwards what one side reads to the other: the client's commands (the
/// armed one begins the cut), the server's replies (unless they are being lost).
final class Relay: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    enum Side {
        case client(ArmedMarker)
        case server
    }

    let side: Side
    let peer: any Channel
    let cut: Cut

    init(_ side: Side, to peer: any Channel, cut: Cut) {
        self.side = side
        self.peer = peer
        self.cut = cut
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        switch side {
        case .client(let armed):
            if armed.takes(String(buffer: bytes)) { cut.begin(on: context.eventLoop) }
        case .server:
            if cut.losingReplies { return }
        }
        peer.writeAndFlush(bytes, promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        peer.close(promise: nil)
        context.fireChannelInactive()
    }
}
