import Tracing

/// A span once it has ended: what the exporter encodes.
struct RecordedSpan: Sendable {
    struct Event: Sendable {
        let name: String
        let time: UInt64
        let attributes: SpanAttributes
    }

    struct Link: Sendable {
        let context: SpanContext
        let attributes: SpanAttributes
    }

    let context: SpanContext
    let parentSpanID: [UInt8]?
    let name: String
    let kind: SpanKind
    /// Nanoseconds since the Unix epoch.
    let start: UInt64
    let end: UInt64
    let attributes: SpanAttributes
    let status: SpanStatus?
    let events: [Event]
    let links: [Link]
}
