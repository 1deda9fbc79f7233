import Tracing

/// The protobuf encoding of an `ExportTraceServiceRequest` (field numbers from
/// opentelemetry-proto's `trace.proto`, `common.proto` and `resource.proto`).
struct ProtobufRequest {
    private(set) var bytes: [UInt8] = []

    init(resource: OTLPEncoding.Attributes, spans: [RecordedSpan]) {
        message(1) { resourceSpans in  // ExportTraceServiceRequest.resource_spans
            resourceSpans.message(1) { $0.attributes(1, resource) }  // ResourceSpans.resource: Resource.attributes
            resourceSpans.message(2) { scopeSpans in  // ResourceSpans.scope_spans
                scopeSpans.message(1) { $0.string(1, OTLPEncoding.scope) }  // ScopeSpans.scope: InstrumentationScope.name
                for span in spans { scopeSpans.message(2) { $0.span(span) } }  // ScopeSpans.spans
            }
        }
    }

    private init() {}

    mutating func span(_ span: RecordedSpan) {
        bytes(1, span.context.traceID)
        bytes(2, span.context.spanID)
        if let parent = span.parentSpanID { bytes(4, parent) }
        string(5, span.name)
        varint(6, UInt64(OTLPEncoding.kind(span.kind)))
        fixed64(7, span.start)
        fixed64(8, span.end)
        attributes(9, OTLPEncoding.attributes(span.attributes))
        for event in span.events {
            message(11) {
                $0.fixed64(1, event.time)
                $0.string(2, event.name)
                $0.attributes(3, OTLPEncoding.attributes(event.attributes))
            }
        }
        for link in span.links {
            message(13) {
                $0.bytes(1, link.context.traceID)
                $0.bytes(2, link.context.spanID)
                $0.attributes(4, OTLPEncoding.attributes(link.attributes))
            }
        }
        if let status = span.status {
            message(15) {
                if let text = status.message { $0.string(2, text) }
                $0.varint(3, UInt64(OTLPEncoding.code(status)))
            }
        }
    }

    mutating func attributes(_ field: Int, _ attributes: OTLPEncoding.Attributes) {
        for (key, value) in attributes {
            message(field) {  // KeyValue
                $0.string(1, key)
                $0.message(2) { $0.value(value) }
            }
        }
    }

    /// An `AnyValue`: one member of its oneof, written even when zero or empty.
    mutating func value(_ value: OTLPEncoding.Value) {
        switch value {
        case .string(let text): tag(1, wire: 2); length(Array(text.utf8))
        case .bool(let flag): tag(2, wire: 0); raw(flag ? 1 : 0)
        case .int(let number): tag(3, wire: 0); raw(UInt64(bitPattern: number))
        case .double(let number): tag(4, wire: 1); little(number.bitPattern)
        case .array(let values): message(5) { array in for item in values { array.message(1) { $0.value(item) } } }
        }
    }

    // MARK: Wire format

    mutating func message(_ field: Int, _ build: (inout ProtobufRequest) -> Void) {
        var inner = ProtobufRequest()
        build(&inner)
        tag(field, wire: 2)
        length(inner.bytes)
    }

    mutating func string(_ field: Int, _ text: String) { bytes(field, Array(text.utf8)) }

    /// A proto3 scalar: the default (empty) is not written.
    mutating func bytes(_ field: Int, _ value: [UInt8]) {
        guard !value.isEmpty else { return }
        tag(field, wire: 2)
        length(value)
    }

    mutating func varint(_ field: Int, _ value: UInt64) {
        guard value != 0 else { return }
        tag(field, wire: 0)
        raw(value)
    }

    mutating func fixed64(_ field: Int, _ value: UInt64) {
        guard value != 0 else { return }
        tag(field, wire: 1)
        little(value)
    }

    mutating func tag(_ field: Int, wire: Int) { raw(UInt64(field << 3 | wire)) }

    mutating func length(_ value: [UInt8]) {
        raw(UInt64(value.count))
        bytes += value
    }

    mutating func raw(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(rest & 0x7F) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    mutating func little(_ value: UInt64) {
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }
}
