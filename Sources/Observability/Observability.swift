import Logging
import OTel
import ServiceLifecycle
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
        let otel = OTel.makeLoggingMetadataProvider()
        return Logger.MetadataProvider {
            var metadata = otel.get()
            metadata.removeValue(forKey: "trace_flags")
            return metadata
        }
    }

    /// Bootstraps the tracer, configured by the standard OTel variables of
    /// the process environment (`OTEL_EXPORTER_OTLP_ENDPOINT`,
    /// `OTEL_TRACES_SAMPLER`, ...); only traces are exported (metrics stay
    /// with Prometheus). Returns the exporter's service, which the caller
    /// runs and shuts down last, once every span has ended.
    public static func bootstrapTracing(logger: Logger) throws -> some Service {
        var configuration = OTel.Configuration.default
        configuration.serviceName = "scribes-assistant"
        configuration.diagnosticLogger = .custom(logger)
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        InstrumentationSystem.bootstrap(backend.factory)
        return backend.service
    }
}
