import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// An OpenTelemetry collector on loopback for tests: accepts OTLP/HTTP
/// JSON exports on `POST /v1/traces` and keeps every span it received.
public final class OTLPReceiver: Sendable {
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
                    try channel.pipeline.syncOperations.addHandler(ExportHandler { body in
                        let spans = Self.spans(in: body)
                        received.spans.withLock { $0 += spans }
                    })
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        port = channel.localAddress?.port ?? 0
    }

    public var spans: [Span] { received.spans.withLock { $0 } }

    deinit { try? channel.close().wait() }

    /// The spans of an `ExportTraceServiceRequest` in its JSON mapping (ids in hex).
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

    /// An id as lowercase hex: OTLP's JSON mapping says hex, swift-protobuf writes bytes in base64.
    static func hex(_ value: Any?) -> String {
        guard let text = value as? String, !text.isEmpty else { return "" }
        if [16, 32].contains(text.count), text.allSatisfy(\.isHexDigit) { return text.lowercased() }
        guard let bytes = Data(base64Encoded: text) else { return text }
        return bytes.map { String(format: "%02x", $0) }.joined()
    }
}

final class SpanStore: Sendable {
    let spans = Mutex<[OTLPReceiver.Span]>([])
}

/// Collects a request's body and answers an empty export response.
final class ExportHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let onExport: @Sendable (Data) -> Void
    private var body = Data()

    init(onExport: @escaping @Sendable (Data) -> Void) {
        self.onExport = onExport
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            body = Data()
        case .body(var buffer):
            body.append(contentsOf: buffer.readBytes(length: buffer.readableBytes) ?? [])
        case .end:
            onExport(body)
            let headers = HTTPHeaders([("Content-Type", "application/json"), ("Content-Length", "2")])
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "{}")))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
