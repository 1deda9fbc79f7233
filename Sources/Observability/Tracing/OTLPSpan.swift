import Synchronization
import Tracing

/// A span of ``OTLPTracer``: it records until it ends, then hands itself to
/// the batch processor, once. A span the sampler dropped records nothing but
/// still carries its context, so a `traceparent` sent downstream says "not sampled".
public final class OTLPSpan: Span {
    struct State {
        var name: String
        var attributes: SpanAttributes = [:]
        var status: SpanStatus?
        var events: [RecordedSpan.Event] = []
        var links: [RecordedSpan.Link] = []
        var ended = false
    }

    public let context: InstrumentationContext
    let kind: SpanKind
    let parentSpanID: [UInt8]?
    let start: UInt64
    let processor: SpanBatcher?
    private let state: Mutex<State>

    init(name: String, kind: SpanKind, context: InstrumentationContext, parentSpanID: [UInt8]?, start: UInt64, processor: SpanBatcher?) {
        self.context = context
        self.kind = kind
        self.parentSpanID = parentSpanID
        self.start = start
        self.processor = processor
        state = Mutex(State(name: name))
    }

    public var isRecording: Bool { processor != nil && !state.withLock(\.ended) }

    public var operationName: String {
        get { state.withLock(\.name) }
        set { state.withLock { $0.name = newValue } }
    }

    public var attributes: SpanAttributes {
        get { state.withLock(\.attributes) }
        set { state.withLock { $0.attributes = newValue } }
    }

    /// OTel's rule: `ok` is final.
    public func setStatus(_ status: SpanStatus) {
        state.withLock { state in
            guard state.status?.code != .ok else { return }
            state.status = status
        }
    }

    public func addEvent(_ event: SpanEvent) {
        guard processor != nil else { return }
        state.withLock { $0.events.append(.init(name: event.name, time: event.nanosecondsSinceEpoch, attributes: event.attributes)) }
    }

    /// An `exception` event, as OTel's semantic conventions name it.
    public func recordError<Instant: TracerInstant>(_ error: any Error, attributes: SpanAttributes, at instant: @autoclosure () -> Instant) {
        var details = attributes
        details["exception.type"] = "\(type(of: error))"
        details["exception.message"] = "\(error)"
        addEvent(SpanEvent(name: "exception", at: instant(), attributes: details))
    }

    public func addLink(_ link: SpanLink) {
        guard processor != nil, let linked = link.context.spanContext else { return }
        state.withLock { $0.links.append(.init(context: linked, attributes: link.attributes)) }
    }

    public func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {
        guard let processor, let spanContext = context.spanContext else { return }
        let end = instant().nanosecondsSinceEpoch
        let recorded: RecordedSpan? = state.withLock { state in
            guard !state.ended else { return nil }
            state.ended = true
            return RecordedSpan(
                context: spanContext, parentSpanID: parentSpanID, name: state.name, kind: kind, start: start, end: end,
                attributes: state.attributes, status: state.status, events: state.events, links: state.links)
        }
        if let recorded { processor.record(recorded) }
    }
}
