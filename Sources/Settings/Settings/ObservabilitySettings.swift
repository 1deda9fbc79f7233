/// Logs and traces.
public struct ObservabilitySettings: Sendable, Equatable {
    public enum LogLevel: String, Sendable, CaseIterable {
        case trace, debug, info, notice, warning, error, critical
    }
    public enum LogFormat: String, Sendable, CaseIterable {
        case logfmt, json
    }
    /// OTLP over HTTP only: this build has no gRPC exporter.
    public enum TraceProtocol: String, Sendable, CaseIterable {
        case protobuf = "http/protobuf"
        case json = "http/json"
    }
    /// The OTel SDK's samplers that this build has.
    public enum TraceSampler: String, Sendable, CaseIterable {
        case alwaysOn = "always_on", alwaysOff = "always_off", traceIDRatio = "traceidratio"
        case parentBasedAlwaysOn = "parentbased_always_on", parentBasedAlwaysOff = "parentbased_always_off"
        case parentBasedTraceIDRatio = "parentbased_traceidratio"
    }

    public var logLevel: LogLevel
    public var logFormat: LogFormat
    /// nil logs to standard error (journald under systemd); relative paths
    /// resolve under the logs directory.
    public var logFile: String?
    /// OTLP/HTTP collector (`/v1/traces` is appended); nil, with no traces endpoint, disables tracing.
    public var otlpEndpoint: String?
    /// The traces URL itself, used as given.
    public var otlpTracesEndpoint: String?
    public var traceProtocol: TraceProtocol
    public var serviceName: String
    public var traceSampler: TraceSampler
    /// Fraction of traces sampled by the ratio samplers, 0...1.
    public var traceSampleRatio: Double
    /// OTEL_SDK_DISABLED: no tracing whatever the endpoint.
    public var sdkDisabled: Bool

    /// Whether the workers export traces.
    public var tracingEnabled: Bool { !sdkDisabled && (otlpEndpoint != nil || otlpTracesEndpoint != nil) }

    public init(reading reader: ConfigurationReader) throws(ConfigurationError) {
        logLevel = try reader.choice("LOG_LEVEL", default: LogLevel.info)
        logFormat = try reader.choice("LOG_FORMAT", default: LogFormat.logfmt)
        logFile = try reader.optionalString("LOG_FILE")
        otlpEndpoint = try reader.optionalString("OTEL_EXPORTER_OTLP_ENDPOINT")
        otlpTracesEndpoint = try reader.optionalString("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        traceProtocol = try reader.choice("OTEL_EXPORTER_OTLP_PROTOCOL", default: TraceProtocol.protobuf)
        // Headers carry collector credentials: read to mask them in check-config, passed on as they are.
        _ = try reader.optionalString("OTEL_EXPORTER_OTLP_HEADERS", secret: true)
        serviceName = reader.string("OTEL_SERVICE_NAME", default: "scribes-assistant")
        traceSampler = try reader.choice("OTEL_TRACES_SAMPLER", default: TraceSampler.parentBasedAlwaysOn)
        traceSampleRatio = try reader.double("OTEL_TRACES_SAMPLER_ARG", default: 1.0, in: 0...1)
        sdkDisabled = try reader.bool("OTEL_SDK_DISABLED", default: false)
    }
}
