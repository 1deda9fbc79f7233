import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// An OpenTelemetry collector on loopback for tests: accepts OTLP/HTTP
/// exports on `POST /v1/traces`, keeps each request's headers and body, and
/// the spans of JSON ones.
public final class OTLPReceiver: Sendable {
    public struct Export: Sendable {
        public let path: String
        public let headers: [String: String]
        public let body: [UInt8]
    }

    public struct Span: Sendable, Equatable {
        public let traceID: String
        public let spanID: String
        public let parentSpanID: String
        public let name: String
        /// Attribute values as text (string, int, double and bool values).
        public let attributes: [String: String]
    }

    public let port: Int
    public var endpoint: String { "http://127.0.0.1:\(port)" }
    private let received = SpanStore()
    private let channel: any Channel

    public init() throws {
        let received = self.received
        channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(ExportHandler { export in
                        let spans = Self.spans(in: Data(export.body))
                        received.spans.withLock { $0 += spans }
                        received.exports.withLock { $0.append(export) }
                    })
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        port = channel.localAddress?.port ?? 0
    }

    public var spans: [Span] { received.spans.withLock { $0 } }
    public var exports: [Export] { received.exports.withLock { $0 } }

    deinit { try? channel.close().wait() }

    /// The spans of an `ExportTraceServiceRequest` in OTLP's JSON mapping;
    /// an id that is not hex (protobuf's JSON writes bytes in base64) reads as "".
    static func spans(in body: Data) -> [Span] {
        guard let root = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else { return [] }
        let resourceSpans = root["resourceSpans"] as? [[String: Any]] ?? []
        let scopeSpans = resourceSpans.flatMap { $0["scopeSpans"] as? [[String: Any]] ?? [] }
        return scopeSpans.flatMap { $0["spans"] as? [[String: Any]] ?? [] }.map { span in
            let attributes = (span["attributes"] as? [[String: Any]] ?? []).reduce(into: [String: String]()) { attributes, attribute in
                guard let key = attribute["key"] as? String, let value = (attribute["value"] as? [String: Any])?.values.first else { return }
                attributes[key] = "\(value)"
            }
            return Span(
                traceID: hex(span["traceId"]), spanID: hex(span["spanId"]), parentSpanID: hex(span["parentSpanId"]),
                name: span["name"] as? String ?? "", attributes: attributes)
        }
    }

    /// An id as OTLP's JSON mapping writes it: lower-case hex of 8 or 16 bytes.
    static func hex(_ value: Any?) -> String {
        guard let text = value as? String, [16, 32].contains(text.count), text.allSatisfy({ "0123456789abcdef".contains($0) }) else { return "" }
        return text
    }
}

final class SpanStore: Sendable {
    let spans = Mutex<[OTLPReceiver.Span]>([])
    let exports = Mutex<[OTLPReceiver.Export]>([])
}

/// Collects a request's body and answers an empty export response.
final class ExportHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let onExport: @Sendable (OTLPReceiver.Export) -> Void
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []

    init(onExport: @escaping @Sendable (OTLPReceiver.Export) -> Void) {
        self.onExport = onExport
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = []
        case .body(var buffer):
            body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            let received = Dictionary(head?.headers.map { ($0.name.lowercased(), $0.value) } ?? [], uniquingKeysWith: { $1 })
            onExport(OTLPReceiver.Export(path: head?.uri ?? "", headers: received, body: body))
            let headers = HTTPHeaders([("Content-Type", "application/json"), ("Content-Length", "2")])
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "{}")))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
