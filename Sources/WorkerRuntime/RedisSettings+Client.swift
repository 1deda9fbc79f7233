import Logging
import RedisClient
import Settings

extension RedisClient {
    /// A client for REDIS_*: at most REDIS_MAX_CONNECTIONS, or `maxConnections` when given (the commands use one).
    public convenience init(_ settings: RedisSettings, maxConnections: Int? = nil, logger: Logger) {
        self.init(
            configuration: .init(
                host: settings.host, port: settings.port, password: settings.password, database: settings.database,
                maxConnections: maxConnections ?? settings.maxConnections),
            logger: logger)
    }
}
