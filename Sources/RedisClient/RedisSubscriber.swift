import Logging
import NIOCore
import NIOPosix
import Primitives

/// One connection of its own, subscribed to one channel (a subscribed
/// connection can send nothing else, so it never joins the pool). Each
/// message's payload goes to `onMessage`; `onSubscribed` runs every time the
/// subscription is (re)established, since messages published while it was
/// down are lost. Reconnects with the client's backoff until cancelled.
public struct RedisSubscriber: Sendable {
    let configuration: RedisClient.Configuration
    let channel: String
    let group: any EventLoopGroup
    let logger: Logger

    public init(configuration: RedisClient.Configuration, channel: String, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger) {
        self.configuration = configuration
        self.channel = channel
        self.group = group
        self.logger = logger
    }

    public func run(onSubscribed: @escaping @Sendable () -> Void, onMessage: @escaping @Sendable ([UInt8]) -> Void) async {
        var backoff = configuration.backoff.lowerBound
        var failing = false
        while !Task.isCancelled {
            do {
                let connection = try await connect(onSubscribed: onSubscribed, onMessage: onMessage)
                if failing { logger.info("Redis subscription restored", metadata: ["channel": "\(channel)"]) }
                (backoff, failing) = (configuration.backoff.lowerBound, false)
                await withTaskCancellationHandler {
                    try? await connection.closeFuture.get()
                } onCancel: {
                    connection.close(promise: nil)
                }
            } catch {
                if !failing { logger.warning("Redis subscription failed, retrying: \(error)", metadata: ["channel": "\(channel)"]) }
                failing = true
            }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, configuration.backoff.upperBound)
        }
    }

    private func connect(onSubscribed: @escaping @Sendable () -> Void, onMessage: @escaping @Sendable ([UInt8]) -> Void) async throws -> any Channel {
        let commands = (configuration.password.map { [["AUTH", $0]] } ?? []) + [["SUBSCRIBE", channel]]
        let connection = try await ClientBootstrap(group: group)
            .connectTimeout(.nanoseconds(configuration.connectTimeout.nanoseconds))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(SubscriptionHandler(onSubscribed: onSubscribed, onMessage: onMessage))
                }
            }
            .connect(host: configuration.host, port: configuration.port)
            .get()
        var buffer = connection.allocator.buffer(capacity: 64)
        for command in commands { buffer.writeBytes(formatCommand(command.map { Array($0.utf8) })) }
        try await connection.writeAndFlush(buffer)
        return connection
    }
}

/// Turns a subscribed connection's replies into calls; an error reply (a refused AUTH) closes it.
final class SubscriptionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let reader = RedisReplyReader()
    private let onSubscribed: @Sendable () -> Void
    private let onMessage: @Sendable ([UInt8]) -> Void

    init(onSubscribed: @escaping @Sendable () -> Void, onMessage: @escaping @Sendable ([UInt8]) -> Void) {
        self.onSubscribed = onSubscribed
        self.onMessage = onMessage
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        buffer.withUnsafeReadableBytes { reader.feed($0) }
        do {
            while let reply = try reader.next() {
                switch reply {
                case .array(let parts) where parts.count == 3 && parts[0].string == "message":
                    if case .bulkString(let payload) = parts[2] { onMessage(payload) }
                case .array(let parts) where parts.first?.string == "subscribe":
                    onSubscribed()
                case .error:
                    context.close(promise: nil)
                default:
                    break
                }
            }
        } catch {
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
