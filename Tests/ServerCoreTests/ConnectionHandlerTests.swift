import HTTPTypes
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
import Testing

@testable import ServerCore

/// The per-connection handlers on an `EmbeddedChannel`, with the loop's
/// clock moved by hand: the read deadline, the end-of-request signal and
/// the close once the worker stops.
@Suite struct ConnectionHandlerTests {
    static func connected(_ handlers: [any ChannelHandler]) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers(handlers)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8000)).wait()
        return channel
    }

    @Test func aRequestThatDoesNotArriveWholeInTimeClosesItsConnection() throws {
        let channel = try Self.connected([RequestReadDeadline(timeout: .seconds(5))])
        try channel.writeInbound(ByteBuffer(string: "GET / HT"))
        channel.embeddedEventLoop.advanceTime(by: .seconds(3))
        try channel.writeInbound(ByteBuffer(string: "T"))  // a trickled byte does not restart the deadline
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive)
    }

    @Test func aRequestReadWholeStopsTheDeadlineUntilTheNextOneBegins() throws {
        let channel = try Self.connected([RequestReadDeadline(timeout: .seconds(5))])
        try channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"))
        channel.pipeline.triggerUserOutboundEvent(RequestReadDeadline.RequestRead(), promise: nil)
        channel.embeddedEventLoop.advanceTime(by: .seconds(60))  // waiting for the response, then idle
        #expect(channel.isActive)
        try channel.writeInbound(ByteBuffer(string: "GET"))
        channel.embeddedEventLoop.advanceTime(by: .seconds(6))
        #expect(!channel.isActive)
    }

    /// Records the outbound user events that reach it.
    final class EventRecorder: ChannelOutboundHandler {
        typealias OutboundIn = Never
        var events: [Any] = []

        func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
            events.append(event)
            promise?.succeed()
        }
    }

    @Test func theEndOfARequestIsSignalledOnceAndThePartsPassOn() throws {
        let recorder = EventRecorder()
        let channel = try Self.connected([recorder, RequestEndSignal()])
        try channel.writeInbound(HTTPRequestPart.head(HTTPRequest(method: .post, scheme: nil, authority: nil, path: "/")))
        try channel.writeInbound(HTTPRequestPart.body(ByteBuffer(string: "{}")))
        #expect(recorder.events.isEmpty)
        try channel.writeInbound(HTTPRequestPart.end(nil))
        #expect(recorder.events.count == 1 && recorder.events.first is RequestReadDeadline.RequestRead)
        var parts = 0
        while try channel.readInbound(as: HTTPRequestPart.self) != nil { parts += 1 }
        #expect(parts == 3)
    }

    @Test func onceTheWorkerStopsTheNextResponseSaysCloseAndTheConnectionCloses() throws {
        let registry = ConnectionRegistry()
        let channel = try Self.connected([CloseWhenStopping(connections: registry)])
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        try channel.writeOutbound(HTTPResponsePart.end(nil))
        guard case .head(let before) = try channel.readOutbound(as: HTTPResponsePart.self) else { Issue.record("no head"); return }
        #expect(before.headerFields[.connection] == nil)
        #expect(channel.isActive)
        _ = try channel.readOutbound(as: HTTPResponsePart.self)

        registry.beginClosing()
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        guard case .head(let after) = try channel.readOutbound(as: HTTPResponsePart.self) else { Issue.record("no head"); return }
        #expect(after.headerFields[.connection] == "close")
        #expect(channel.isActive)  // until the response is written whole
        try channel.writeOutbound(HTTPResponsePart.end(nil))
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)
    }
}
