import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTPTypes

/// Gives the response Hummingbird writes for unparseable HTTP (an empty 400
/// with `Connection: close`) the API's `{"detail": ...}` body and a request id. Sits after the
/// HTTP codec in each connection's pipeline; our own 400s always have a body,
/// so an empty one can only be the parser's.
final class MalformedRequestResponder: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    static let body = #"{"detail":"Malformed HTTP request"}"#
    private var isRewriting = false

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where head.status == .badRequest && head.headerFields[.contentLength] == "0":
            isRewriting = true
            head.headerFields[.contentLength] = String(Self.body.utf8.count)
            head.headerFields[.contentType] = "application/json"
            head.headerFields[.requestID] = RequestIDMiddleware.generate()  // no request was read to take one from
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .end(let trailers) where isRewriting:
            isRewriting = false
            context.write(wrapOutboundOut(.body(ByteBuffer(string: Self.body))), promise: nil)
            context.write(wrapOutboundOut(.end(trailers)), promise: promise)
        default:
            context.write(data, promise: promise)
        }
    }
}

/// What the API adds to the server core on every connection: unparseable
/// requests answered in its error shape, and a thrown error as its 500.
public enum APIConnection {
    public static func handlers() -> [any RemovableChannelHandler] { [MalformedRequestResponder()] }

    public static func failure() -> Response { APIError(.internalServerError, "Internal server error").response() }
}
