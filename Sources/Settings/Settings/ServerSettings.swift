/// Where the appliance listens and how its processes live and die.
public struct ServerSettings: Sendable, Equatable {
    public var host: String
    /// 0 picks an ephemeral port (tests).
    public var port: Int
    /// Worker processes; applied only by a restart.
    public var workers: Int
    /// Seconds a worker may stay silent before it is killed and replaced.
    public var workerTimeout: Int
    /// Seconds in-flight requests get to finish on stop or reload.
    public var gracefulTimeout: Int
    /// Seconds health answers `draining` before workers stop accepting.
    public var shutdownDelay: Int
    /// Seconds an idle keep-alive connection is kept open.
    public var keepAliveTimeout: Int
    /// Seconds a request may take to arrive whole, head and body, from its
    /// first byte; a slower client's connection is closed.
    public var requestReadTimeout: Int
    /// A worker is replaced gracefully after this many requests (plus up to
    /// `maxRequestsJitter`, so workers do not all recycle at once); 0 never.
    public var maxRequests: Int
    public var maxRequestsJitter: Int
    /// A separate listener for /metrics; nil serves it on the main port.
    public var metricsHost: String?
    public var metricsPort: Int?

    public init(reading reader: ConfigurationReader, cpuCount: Int) throws(ConfigurationError) {
        host = reader.string("HOST", default: "0.0.0.0")
        port = try reader.int("PORT", default: 8000, in: 0...65535)
        workers = try reader.int("WORKERS", default: max(1, cpuCount), in: 1...256)
        workerTimeout = try reader.int("WORKER_TIMEOUT", default: 30, in: 2...3600)
        gracefulTimeout = try reader.int("GRACEFUL_TIMEOUT", default: 30, in: 1...3600)
        shutdownDelay = try reader.int("SHUTDOWN_DELAY", default: 0, in: 0...600)
        keepAliveTimeout = try reader.int("KEEPALIVE_TIMEOUT", default: 75, in: 1...3600)
        requestReadTimeout = try reader.int("REQUEST_READ_TIMEOUT", default: 30, in: 1...3600)
        maxRequests = try reader.int("WORKER_MAX_REQUESTS", default: 0, in: 0...1_000_000_000)
        maxRequestsJitter = try reader.int("WORKER_MAX_REQUESTS_JITTER", default: 0, in: 0...1_000_000_000)
        metricsPort = try reader.optionalInt("METRICS_PORT", in: 1...65535)
        metricsHost = try reader.optionalString("METRICS_HOST", default: metricsPort == nil ? nil : host)
        if metricsHost != nil && metricsPort == nil {
            throw ConfigurationError(
                code: .conflict, key: "METRICS_HOST", problem: "is set without METRICS_PORT",
                accepted: "both METRICS_HOST and METRICS_PORT, or METRICS_PORT alone, or neither")
        }
    }
}
