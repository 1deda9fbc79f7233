import Settings
import Tracing

/// An `ExportTraceServiceRequest` (opentelemetry-proto's trace service) for
/// a batch of spans: protobuf for `http/protobuf`, OTLP's JSON mapping for
/// `http/json` (ids in hex, 64-bit integers as strings, enums as numbers).
struct OTLPEncoding: Sendable {
    /// An attribute's value as OTLP's `AnyValue` holds it.
    indirect enum Value: Equatable {
        case string(String), bool(Bool), int(Int64), double(Double), array([Value])

        init(_ attribute: SpanAttribute) {
            switch attribute {
            case .int32(let value): self = .int(Int64(value))
            case .int64(let value): self = .int(value)
            case .double(let value): self = .double(value)
            case .bool(let value): self = .bool(value)
            case .string(let value): self = .string(value)
            case .int32Array(let values): self = .array(values.map { .int(Int64($0)) })
            case .int64Array(let values): self = .array(values.map { .int($0) })
            case .doubleArray(let values): self = .array(values.map { .double($0) })
            case .boolArray(let values): self = .array(values.map { .bool($0) })
            case .stringArray(let values): self = .array(values.map { .string($0) })
            case .stringConvertibleArray(let values): self = .array(values.map { .string($0.description) })
            case .stringConvertible(let value): self = .string(value.description)
            default: self = .string("\(attribute)")
            }
        }
    }

    typealias Attributes = [(key: String, value: Value)]

    let json: Bool
    let resource: Attributes

    init(settings: ObservabilitySettings) {
        json = settings.traceProtocol == .json
        // OTEL_SERVICE_NAME wins over a service.name in OTEL_RESOURCE_ATTRIBUTES, as the specification says.
        resource = [("service.name", .string(settings.serviceName)), ("telemetry.sdk.language", .string("swift")), ("telemetry.sdk.name", .string("scribes-assistant"))]
            + settings.resourceAttributes.filter { $0.key != "service.name" }.map { ($0.key, .string($0.value)) }
    }

    var contentType: String { json ? "application/json" : "application/x-protobuf" }

    func request(_ spans: [RecordedSpan]) -> [UInt8] {
        json ? Array(JSONRequest(resource: resource, spans: spans).text.utf8) : ProtobufRequest(resource: resource, spans: spans).bytes
    }

    static let scope = "scribes-assistant"

    static func attributes(_ attributes: SpanAttributes) -> Attributes {
        var result: Attributes = []
        attributes.forEach { key, value in result.append((key, Value(value))) }
        return result.sorted { $0.key < $1.key }
    }

    /// SpanKind's numbers in opentelemetry-proto.
    static func kind(_ kind: SpanKind) -> Int {
        switch kind {
        case .internal: 1
        case .server: 2
        case .client: 3
        case .producer: 4
        case .consumer: 5
        }
    }

    /// StatusCode's numbers: ok 1, error 2 (unset, 0, is a span without a status).
    static func code(_ status: SpanStatus) -> Int {
        switch status.code {
        case .ok: 1
        case .error: 2
        }
    }
}
