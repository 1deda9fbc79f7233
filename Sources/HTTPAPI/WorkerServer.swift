import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOExtras
import NIOPosix
import ServiceLifecycle

/// Serves the API on a listening socket it is given (one the supervisor
/// bound with SO_REUSEPORT and keeps open), with Hummingbird's HTTP/1.1
/// channel and router. On graceful shutdown it stops accepting, lets each
/// connection finish its request in flight, and returns.
public struct WorkerServer: Service {
    let responder: RouterResponder<AppRequestContext>
    let descriptor: CInt
    let idleTimeoutSeconds: Int
    let logger: Logger
    let onAccepting: @Sendable () -> Void

    /// - Parameters:
    ///   - descriptor: a bound, listening TCP socket; the server closes its own copy at shutdown.
    ///   - onAccepting: called once the server accepts connections (the worker reports ready).
    public init(
        router: Router<AppRequestContext>, descriptor: CInt, idleTimeoutSeconds: Int, logger: Logger,
        onAccepting: @escaping @Sendable () -> Void = {}
    ) {
        self.responder = router.buildResponder()
        self.descriptor = descriptor
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.logger = logger
        self.onAccepting = onAccepting
    }

    public func run() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let http1 = HTTP1Channel(
            responder: Self.responder(responder, logger: logger),
            configuration: .init(additionalChannelHandlers: [MalformedRequestResponder()], idleTimeout: .seconds(Int64(idleTimeoutSeconds))))
        let quiescing = ServerQuiescingHelper(group: group)
        let logger = self.logger
        let server = try await ServerBootstrap(group: group)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                }
            }
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .bind(NIOBSDSocket.Handle(descriptor)) { channel in http1.setup(channel: channel, logger: logger) }
        onAccepting()
        try await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { connections in
                do {
                    try await server.executeThenClose { inbound in
                        for try await connection in inbound {
                            connections.addTask { await http1.handle(value: connection, logger: logger) }
                        }
                    }
                } catch {
                    logger.error("Accepting connections failed: \(error)")
                }
            }
        } onGracefulShutdown: {
            quiescing.initiateShutdown(promise: nil)
        }
    }

    /// What Hummingbird's Application does per request: a context, the router, the response.
    static func responder(_ responder: RouterResponder<AppRequestContext>, logger: Logger) -> HTTPChannelHandler.Responder {
        { request, responseWriter, channel in
            let context = AppRequestContext(source: ApplicationRequestContextSource(channel: channel, logger: logger))
            let response: Response
            do {
                response = try await responder.respond(to: request, context: context)
            } catch {
                response = APIError(.internalServerError, "Internal server error").response()
            }
            try await responseWriter.write(response: response.head, body: response.body)
        }
    }
}
