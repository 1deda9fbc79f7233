/// Logs and traces.
public struct ObservabilitySettings: Sendable, Equatable {
    public enum LogLevel: String, Sendable, CaseIterable {
        case trace, debug, info, notice, warning, error, critical
    }
    public enum LogFormat: String, Sendable, CaseIterable {
        case logfmt, json
    }

    public var logLevel: LogLevel
    public var logFormat: LogFormat
    /// nil logs to standard error (journald under systemd); relative paths
    /// resolve under the logs directory.
    public var logFile: String?
    /// OTLP/HTTP collector; nil disables tracing.
    public var otlpEndpoint: String?
    /// Fraction of traces sampled, 0...1.
    public var traceSampleRatio: Double

    public init(reading reader: ConfigurationReader) throws(ConfigurationError) {
        logLevel = try reader.choice("LOG_LEVEL", default: LogLevel.info)
        logFormat = try reader.choice("LOG_FORMAT", default: LogFormat.logfmt)
        logFile = try reader.optionalString("LOG_FILE")
        otlpEndpoint = try reader.optionalString("OTEL_EXPORTER_OTLP_ENDPOINT")
        traceSampleRatio = try reader.double("OTEL_TRACES_SAMPLER_ARG", default: 1.0, in: 0...1)
    }
}
