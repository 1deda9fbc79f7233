/// How workers reach Redis, which holds every limit's state.
public struct RedisSettings: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var database: Int
    /// Sent with AUTH when set; never logged.
    public var password: String?
    /// Connections per worker; callers wait for one rather than fail.
    public var maxConnections: Int

    public init(reading reader: ConfigurationReader) throws(ConfigurationError) {
        host = reader.string("REDIS_HOST", default: "localhost")
        port = try reader.int("REDIS_PORT", default: 6379, in: 1...65535)
        database = try reader.int("REDIS_DB", default: 0, in: 0...9999)
        password = try reader.optionalString("REDIS_PASSWORD", secret: true)
        maxConnections = try reader.int("REDIS_MAX_CONNECTIONS", default: 10, in: 1...1024)
    }
}
