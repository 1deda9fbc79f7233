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
    /// Sent with every export (collector credentials).
    public var otlpHeaders: [KeyValue]
    /// One export's limit, in milliseconds.
    public var otlpTimeoutMilliseconds: Int
    /// Resource attributes beside `service.name`.
    public var resourceAttributes: [KeyValue]
    /// The batch processor's delay between exports, in milliseconds.
    public var batchDelayMilliseconds: Int
    /// Ended spans held for export at most; more are dropped (and counted in the log).
    public var batchQueueSize: Int
    /// Spans per export at most.
    public var batchExportSize: Int

    /// Whether the workers export traces.
    public var tracingEnabled: Bool { !sdkDisabled && (otlpEndpoint != nil || otlpTracesEndpoint != nil) }

    public init(reading reader: ConfigurationReader) throws(ConfigurationError) {
        logLevel = try reader.choice("LOG_LEVEL", default: LogLevel.info)
        logFormat = try reader.choice("LOG_FORMAT", default: LogFormat.logfmt)
        logFile = try reader.optionalString("LOG_FILE")
        otlpEndpoint = try reader.optionalString("OTEL_EXPORTER_OTLP_ENDPOINT")
        otlpTracesEndpoint = try reader.optionalString("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        traceProtocol = try reader.choice("OTEL_EXPORTER_OTLP_PROTOCOL", default: TraceProtocol.protobuf)
        // Headers carry collector credentials: masked in check-config.
        otlpHeaders = try reader.pairs("OTEL_EXPORTER_OTLP_HEADERS", secret: true)
        otlpTimeoutMilliseconds = try reader.int("OTEL_EXPORTER_OTLP_TIMEOUT", default: 10_000, in: 1...600_000)
        serviceName = reader.string("OTEL_SERVICE_NAME", default: "scribes-assistant")
        resourceAttributes = try reader.pairs("OTEL_RESOURCE_ATTRIBUTES")
        traceSampler = try reader.choice("OTEL_TRACES_SAMPLER", default: TraceSampler.parentBasedAlwaysOn)
        traceSampleRatio = try reader.double("OTEL_TRACES_SAMPLER_ARG", default: 1.0, in: 0...1)
        sdkDisabled = try reader.bool("OTEL_SDK_DISABLED", default: false)
        batchDelayMilliseconds = try reader.int("OTEL_BSP_SCHEDULE_DELAY", default: 5_000, in: 1...3_600_000)
        batchQueueSize = try reader.int("OTEL_BSP_MAX_QUEUE_SIZE", default: 2_048, in: 1...1_000_000)
        batchExportSize = try reader.int("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", default: 512, in: 1...1_000_000)
        guard batchExportSize <= batchQueueSize else {
            throw ConfigurationError(
                code: .conflict, key: "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", problem: "is larger than OTEL_BSP_MAX_QUEUE_SIZE (\(batchQueueSize))",
                accepted: "at most OTEL_BSP_MAX_QUEUE_SIZE")
        }
    }

    /// Where spans are posted: the traces endpoint as given, else the base endpoint with `/v1/traces`.
    public var tracesURL: String? {
        if let otlpTracesEndpoint { return otlpTracesEndpoint }
        guard let otlpEndpoint else { return nil }
        return (otlpEndpoint.hasSuffix("/") ? String(otlpEndpoint.dropLast()) : otlpEndpoint) + "/v1/traces"
    }
}
