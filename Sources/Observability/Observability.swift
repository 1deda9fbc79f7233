import Logging
import Settings
import Tracing

/// The process-wide logging and tracing backends, bootstrapped once at start.
public enum Observability {
    /// Sends every logger's records through a ``LogLineHandler`` writing
    /// `format` to standard error, with the current trace's id on the lines
    /// logged inside a traced request.
    public static func bootstrapLogging(format: LogLineHandler.Format, level: Logger.Level, environment: [String: String]) {
        let destination = LogDestination.current(environment: environment)
        let traceIDs = traceIDMetadata()
        LoggingSystem.bootstrap({ _, provider in
            var handler = LogLineHandler(format: format, destination: destination, metadataProvider: provider)
            handler.logLevel = level
            return handler
        }, metadataProvider: traceIDs)
    }

    /// `trace_id` and `span_id` of the span in the task's context, if any.
    static func traceIDMetadata() -> Logger.MetadataProvider {
        Logger.MetadataProvider {
            guard let span = InstrumentationContext.current?.spanContext else { return [:] }
            return ["trace_id": "\(SpanContext.hex(span.traceID))", "span_id": "\(SpanContext.hex(span.spanID))"]
        }
    }

    /// Bootstraps the tracer as `settings` (the `OTEL_*` keys) say; only
    /// traces are exported (metrics stay with Prometheus). Returns the
    /// exporter's service, which the caller runs and shuts down last, once
    /// every span has ended; nil when tracing is off.
    public static func bootstrapTracing(_ settings: ObservabilitySettings, logger: Logger) -> SpanBatcher? {
        guard settings.tracingEnabled, let url = settings.tracesURL else { return nil }
        let batcher = SpanBatcher(settings: settings, url: url, logger: logger)
        InstrumentationSystem.bootstrap(OTLPTracer(sampler: Sampler(choice: settings.traceSampler, ratio: settings.traceSampleRatio), batcher: batcher))
        return batcher
    }
}
