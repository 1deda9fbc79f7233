import Settings
import Tracing

/// The process's tracer: spans in W3C Trace Context, sampled as
/// `OTEL_TRACES_SAMPLER` says, ended spans batched and exported over OTLP/HTTP
/// by a ``SpanBatcher``. `traceparent` is read from incoming requests and
/// written into outgoing ones.
public struct OTLPTracer: Tracer {
    public typealias Span = OTLPSpan

    let sampler: Sampler
    let batcher: SpanBatcher

    init(sampler: Sampler, batcher: SpanBatcher) {
        self.sampler = sampler
        self.batcher = batcher
    }

    public func startSpan<Instant: TracerInstant>(
        _ operationName: String, context: @autoclosure () -> InstrumentationContext, ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant, function: String, file fileID: String, line: UInt
    ) -> OTLPSpan {
        var context = context()
        let parent = context.spanContext
        let spanContext = SpanContext.child(of: parent) { sampler.samples(traceID: $0, parent: parent) }
        context.spanContext = spanContext
        return OTLPSpan(
            name: operationName, kind: kind, context: context, parentSpanID: parent?.spanID, start: instant().nanosecondsSinceEpoch,
            processor: spanContext.sampled ? batcher : nil)
    }

    public func forceFlush() { batcher.wake() }

    public func extract<Carrier, Extract>(_ carrier: Carrier, into context: inout InstrumentationContext, using extractor: Extract)
    where Extract: Extractor, Extract.Carrier == Carrier {
        guard let header = extractor.extract(key: "traceparent", from: carrier), let parent = SpanContext(traceparent: header) else { return }
        context.spanContext = parent
    }

    public func inject<Carrier, Inject>(_ context: InstrumentationContext, into carrier: inout Carrier, using injector: Inject)
    where Inject: Injector, Inject.Carrier == Carrier {
        guard let spanContext = context.spanContext else { return }
        injector.inject(spanContext.traceparent, forKey: "traceparent", into: &carrier)
    }
}

/// OTel's standard samplers: whether a new span's trace is recorded.
struct Sampler: Sendable {
    let choice: ObservabilitySettings.TraceSampler
    let ratio: Double

    func samples(traceID: [UInt8], parent: SpanContext?) -> Bool {
        switch choice {
        case .alwaysOn: true
        case .alwaysOff: false
        case .traceIDRatio: inRatio(traceID)
        case .parentBasedAlwaysOn: parent?.sampled ?? true
        case .parentBasedAlwaysOff: parent?.sampled ?? false
        case .parentBasedTraceIDRatio: parent?.sampled ?? inRatio(traceID)
        }
    }

    /// Decided by the trace id's last 8 bytes, so every process samples a trace alike.
    func inRatio(_ traceID: [UInt8]) -> Bool {
        let value = traceID.suffix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return Double(value >> 11) / Double(UInt64(1) << 53) < ratio
    }
}
