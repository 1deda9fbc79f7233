import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes
import NIOPosix
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Serves the API on listening sockets it is given (ones the supervisor
/// bound with SO_REUSEPORT and keeps open), with Hummingbird's HTTP/1.1
/// channel and router: its own slot's socket, plus any other slot's socket
/// it is asked to cover while that slot has no worker.
///
/// On graceful shutdown it stops accepting, answers each connection's next
/// request with `Connection: close` and then closes it, and closes whatever
/// connections are still open (idle keep-alive ones included) after
/// `gracefulTimeout`: closing an idle connection earlier would race the
/// client's next request on it.
public final class WorkerServer<Context: RequestContext>: Service, Sendable where Context.Source == ApplicationRequestContextSource {
    public struct Options: Sendable {
        public var idleTimeout: Duration
        /// How long a request may take to arrive whole from its first byte (``RequestReadDeadline``).
        public var requestReadTimeout: Duration
        public var gracefulTimeout: Duration
        /// After this many requests `onRequestLimit` is called once (WORKER_MAX_REQUESTS); nil: never.
        public var requestLimit: Int?
        /// The connections the worker's descriptors leave room for, shared by its servers; nil: no limit.
        public var connectionLimit: ConnectionLimit?
        /// The application's own handlers, added after the HTTP codec of each connection.
        public var channelHandlers: @Sendable () -> [any RemovableChannelHandler]
        /// The answer when the responder throws (the router's error middleware should leave nothing to throw).
        public var failure: @Sendable () -> Response

        public init(
            idleTimeout: Duration, requestReadTimeout: Duration, gracefulTimeout: Duration, requestLimit: Int? = nil, connectionLimit: ConnectionLimit? = nil,
            channelHandlers: @escaping @Sendable () -> [any RemovableChannelHandler] = { [] },
            failure: @escaping @Sendable () -> Response = { Response(status: .internalServerError) }
        ) {
            self.idleTimeout = idleTimeout
            self.requestReadTimeout = requestReadTimeout
            self.gracefulTimeout = gracefulTimeout
            self.requestLimit = requestLimit
            self.connectionLimit = connectionLimit
            self.channelHandlers = channelHandlers
            self.failure = failure
        }
    }

    enum ListenerChange {
        case add(CInt)
        case remove(CInt)
    }

    let router: RouterResponder<Context>
    let descriptor: CInt
    /// Other slots' sockets this process holds only to cover them; closed
    /// when it stops accepting (see ``run()``).
    let coverable: [CInt]
    let options: Options
    let logger: Logger
    let onAccepting: @Sendable () -> Void
    let onRequestLimit: @Sendable () -> Void
    let connections = ConnectionRegistry()
    let served = Atomic<Int>(0)
    private let changes: AsyncStream<ListenerChange>
    private let changeSink: AsyncStream<ListenerChange>.Continuation

    /// - Parameters:
    ///   - descriptor: a bound, listening TCP socket; the server closes it at shutdown.
    ///   - coverable: the other slots' sockets that `cover(_:)` may be given; closed at shutdown too.
    ///   - onAccepting: called once the server accepts connections (the worker reports ready).
    ///   - onRequestLimit: called once `options.requestLimit` requests have been answered.
    public init(
        router: Router<Context>, descriptor: CInt, coverable: [CInt] = [], options: Options, logger: Logger,
        onAccepting: @escaping @Sendable () -> Void = {}, onRequestLimit: @escaping @Sendable () -> Void = {}
    ) {
        self.router = router.buildResponder()
        self.descriptor = descriptor
        self.coverable = coverable
        self.options = options
        self.logger = logger
        self.onAccepting = onAccepting
        self.onRequestLimit = onRequestLimit
        (changes, changeSink) = AsyncStream.makeStream()
    }

    /// Also accept on `descriptor` (another slot's socket, which stays open in this process).
    public func cover(_ descriptor: CInt) { changeSink.yield(.add(descriptor)) }

    /// Stop accepting on a socket given to `cover(_:)`.
    public func uncover(_ descriptor: CInt) { changeSink.yield(.remove(descriptor)) }

    public func run() async throws {
        let connections = self.connections
        let http1 = HTTP1Channel(
            responder: makeResponder(),
            configuration: .init(
                additionalChannelHandlers: self.options.channelHandlers() + [RequestEndSignal(), CloseWhenStopping(connections: connections)],
                idleTimeout: TimeAmount(options.idleTimeout)))
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                var listeners: [CInt: any Channel] = [:]
                listeners[descriptor] = try await listen(on: descriptor, http1: http1, group: &group)
                onAccepting()
                for await change in changes {
                    switch change {
                    case .add(let covered) where listeners[covered] == nil:
                        // A copy: the inherited descriptor must stay open to be covered again later.
                        let copy = dup(covered)
                        do {
                            listeners[covered] = try await listen(on: copy, http1: http1, group: &group)
                        } catch {
                            close(copy)
                            logger.error("cannot accept on another slot's socket: \(error)")
                        }
                    case .remove(let covered):
                        if let listener = listeners.removeValue(forKey: covered) { await Self.stopAccepting(listener) }
                    case .add:
                        break
                    }
                }
                connections.beginClosing()
                for listener in listeners.values { await Self.stopAccepting(listener) }
                // A socket lives while any process holds it, and connections the
                // kernel queues on it wait there. Once its worker and the
                // supervisor let go, it closes and they move to another
                // listener of the port (net.ipv4.tcp_migrate_req); a copy kept
                // here would hold them until this process exits (seen: 9.9 s
                // without an answer when the supervisor was killed).
                for descriptor in coverable { close(descriptor) }
                connections.closeAll(after: options.gracefulTimeout, on: MultiThreadedEventLoopGroup.singleton.any())
            }
        } onGracefulShutdown: {
            self.changeSink.finish()
        }
    }

    /// Stops accepting, then closes the listening channel once the
    /// connections it has already accepted are handed over. Closing at once
    /// would drop a connection whose setup is still running on another event
    /// loop (NIO traps on such an unconsumed child channel). Connections still
    /// queued in the kernel stay with the socket, which other processes keep
    /// open, and are accepted there.
    static func stopAccepting(_ listener: any Channel) async {
        try? await listener.setOption(ChannelOptions.autoRead, value: false).get()
        try? await Task.sleep(for: .milliseconds(100))
        try? await listener.close()
    }

    /// Starts accepting on `descriptor`; connections are served in `group`. Returns the listening channel.
    private func listen(
        on descriptor: CInt, http1: HTTP1Channel, group: inout ThrowingDiscardingTaskGroup<any Error>
    ) async throws -> any Channel {
        let logger = self.logger
        let readTimeout = TimeAmount(options.requestReadTimeout)
        let connectionLimit = options.connectionLimit
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            // The gate stops accepting before the descriptors run out (ConnectionLimit).
            // Should they run out all the same (a limit below the reserve), NIO pauses
            // accepting for 1 s at each EMFILE, which drained a queue of short
            // connections 8 a second (17 s without an answer in ChaosTests): the
            // backoff handler comes first and keeps the error from NIO's, 50 ms pauses.
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        AcceptBackoffHandler(shouldForwardIOErrorCaught: false, backoffProvider: { _ in .milliseconds(50) }))
                    if let connectionLimit { try channel.pipeline.syncOperations.addHandler(ConnectionGate(connections: connectionLimit)) }
                }
            }
            // A client that closes its end has gone: the connection closes and its request is cancelled.
            .childChannelOption(.allowRemoteHalfClosure, value: false)
            .bind(NIOBSDSocket.Handle(descriptor)) { channel -> EventLoopFuture<HTTP1Channel.Value> in
                do {
                    try channel.pipeline.syncOperations.addHandler(RequestReadDeadline(timeout: readTimeout))
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
                return http1.setup(channel: channel, logger: logger)
            }
        let connections = self.connections
        group.addTask {
            await withDiscardingTaskGroup { handlers in
                do {
                    try await server.executeThenClose { inbound in
                        for try await connection in inbound {
                            connections.add(connection.channel)
                            connection.channel.closeFuture.whenComplete { _ in connections.cancelRequest(on: connection.channel) }
                            handlers.addTask {
                                await http1.handle(value: connection, logger: logger)
                                connections.remove(connection.channel)
                            }
                        }
                    }
                } catch {
                    logger.error("Accepting connections failed: \(error)")
                }
            }
        }
        return server.channel
    }

    /// What Hummingbird's Application does per request: a context, the router, the response.
    private func makeResponder() -> HTTPChannelHandler.Responder {
        let router = self.router
        let logger = self.logger
        let connections = self.connections
        return { [self] request, responseWriter, channel in
            let context = Context(source: ApplicationRequestContextSource(channel: channel, logger: logger))
            // Counted even when the client is gone before the response is written: it was served.
            defer { if let limit = options.requestLimit, served.add(1, ordering: .relaxed).newValue == limit { onRequestLimit() } }
            let response: Response
            do {
                response = try await connections.cancellingOnClose(channel) { try await router.respond(to: request, context: context) }
            } catch {
                response = options.failure()
            }
            try await responseWriter.write(response: response.head, body: response.body)
        }
    }
}
