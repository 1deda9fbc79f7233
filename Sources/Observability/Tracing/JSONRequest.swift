import Tracing

/// OTLP's JSON mapping of an `ExportTraceServiceRequest`: protobuf's JSON
/// with the exceptions OTLP/HTTP specifies — trace and span ids as hex (not
/// base64), enums as numbers; 64-bit integers are strings, as in proto3 JSON.
struct JSONRequest {
    private(set) var text = ""

    init(resource: OTLPEncoding.Attributes, spans: [RecordedSpan]) {
        text += #"{"resourceSpans":[{"resource":{"attributes":"#
        attributes(resource)
        text += #"},"scopeSpans":[{"scope":{"name":"#
        string(OTLPEncoding.scope)
        text += #"},"spans":["#
        for (index, span) in spans.enumerated() {
            if index > 0 { text += "," }
            self.span(span)
        }
        text += "]}]}]}"
    }

    mutating func span(_ span: RecordedSpan) {
        text += #"{"traceId":""# + SpanContext.hex(span.context.traceID) + #"","spanId":""# + SpanContext.hex(span.context.spanID) + "\""
        if let parent = span.parentSpanID { text += #","parentSpanId":""# + SpanContext.hex(parent) + "\"" }
        text += #","name":"#
        string(span.name)
        text += #","kind":\#(OTLPEncoding.kind(span.kind)),"startTimeUnixNano":"\#(span.start)","endTimeUnixNano":"\#(span.end)","attributes":"#
        attributes(OTLPEncoding.attributes(span.attributes))
        text += #","events":["#
        for (index, event) in span.events.enumerated() {
            text += (index > 0 ? "," : "") + #"{"timeUnixNano":"\#(event.time)","name":"#
            string(event.name)
            text += #","attributes":"#
            attributes(OTLPEncoding.attributes(event.attributes))
            text += "}"
        }
        text += #"],"links":["#
        for (index, link) in span.links.enumerated() {
            text += (index > 0 ? "," : "") + #"{"traceId":""# + SpanContext.hex(link.context.traceID) + #"","spanId":""# + SpanContext.hex(link.context.spanID)
            text += #"","attributes":"#
            attributes(OTLPEncoding.attributes(link.attributes))
            text += "}"
        }
        text += "]"
        if let status = span.status {
            text += #","status":{"code":\#(OTLPEncoding.code(status))"#
            if let message = status.message {
                text += #","message":"#
                string(message)
            }
            text += "}"
        }
        text += "}"
    }

    mutating func attributes(_ attributes: OTLPEncoding.Attributes) {
        text += "["
        for (index, (key, value)) in attributes.enumerated() {
            text += (index > 0 ? "," : "") + #"{"key":"#
            string(key)
            text += #","value":"#
            self.value(value)
            text += "}"
        }
        text += "]"
    }

    mutating func value(_ value: OTLPEncoding.Value) {
        switch value {
        case .string(let content):
            text += #"{"stringValue":"#
            string(content)
            text += "}"
        case .bool(let flag): text += #"{"boolValue":\#(flag)}"#
        case .int(let number): text += #"{"intValue":"\#(number)"}"#
        case .double(let number):
            // proto3 JSON writes the non-finite doubles as strings.
            let written = number.isNaN ? "\"NaN\"" : number.isInfinite ? (number > 0 ? "\"Infinity\"" : "\"-Infinity\"") : "\(number)"
            text += #"{"doubleValue":\#(written)}"#
        case .array(let values):
            text += #"{"arrayValue":{"values":["#
            for (index, item) in values.enumerated() {
                if index > 0 { text += "," }
                self.value(item)
            }
            text += "]}}"
        }
    }

    mutating func string(_ value: String) { LogLine.appendJSONString(value, to: &text) }
}
