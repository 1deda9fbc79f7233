/// How workers and the data commands reach PostgreSQL.
public struct DatabaseSettings: Sendable, Equatable {
    /// A libpq connection URI (`postgresql://user:password@host:port/db?...`).
    public var url: String
    /// Connections per worker process (`DATABASE_MAX_CONNECTIONS`).
    public var maxConnections: Int

    public static let defaultURL = "postgresql://scribes@localhost:5432/scribes"

    public init(url: String = Self.defaultURL, maxConnections: Int = 5) {
        self.url = url
        self.maxConnections = maxConnections
    }

    public init(reading reader: ConfigurationReader) throws(ConfigurationError) {
        let url = try reader.optionalString("DATABASE_URL", default: Self.defaultURL, display: Self.maskingPassword)!
        guard url.hasPrefix("postgresql://") || url.hasPrefix("postgres://") else {
            throw ConfigurationError(
                code: .invalidValue, key: "DATABASE_URL", problem: "does not start with postgresql://",
                accepted: "a URI postgresql://user:password@host:port/database")
        }
        self.url = url
        self.maxConnections = try reader.int("DATABASE_MAX_CONNECTIONS", default: 5, in: 1...100)
    }

    /// `url` with any password replaced by the mask, for logs and `check-config`.
    public static func maskingPassword(_ url: String) -> String {
        var masked = url
        // userinfo password: scheme://user:PASSWORD@host
        if let schemeEnd = masked.firstRange(of: "://") {
            let authorityStart = schemeEnd.upperBound
            let authorityEnd = masked[authorityStart...].firstIndex(where: { $0 == "/" || $0 == "?" }) ?? masked.endIndex
            let authority = masked[authorityStart..<authorityEnd]
            if let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") {
                masked.replaceSubrange(masked.index(after: colon)..<at, with: ConfigurationReader.mask)
            }
        }
        // query parameter: ?password=PASSWORD&...
        if let start = masked.firstRange(of: "password=") {
            let end = masked[start.upperBound...].firstIndex(of: "&") ?? masked.endIndex
            masked.replaceSubrange(start.upperBound..<end, with: ConfigurationReader.mask)
        }
        return masked
    }
}
