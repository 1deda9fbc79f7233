/// Login tokens and password hashing.
public struct AuthSettings: Sendable, Equatable {
    /// HS256 key for access tokens; at least 32 bytes; never logged.
    public var jwtSecret: String
    public var tokenLifetimeSeconds: Int
    /// bcrypt work factor for new password hashes.
    public var bcryptCost: Int

    public static let minimumSecretBytes = 32

    public init(reading reader: ConfigurationReader) throws(ConfigurationError) {
        let accepted = "a random string of at least \(Self.minimumSecretBytes) bytes (e.g. openssl rand -hex 32)"
        jwtSecret = try reader.requiredString("JWT_SECRET", secret: true, accepted: accepted)
        guard jwtSecret.utf8.count >= Self.minimumSecretBytes else {
            throw ConfigurationError(
                code: .invalidValue, key: "JWT_SECRET", problem: "is \(jwtSecret.utf8.count) bytes long", accepted: accepted)
        }
        tokenLifetimeSeconds = try reader.int("JWT_TTL_SECONDS", default: 3600, in: 60...2_592_000)
        bcryptCost = try Self.bcryptCost(reading: reader)
    }

    /// `BCRYPT_COST` alone, for commands that hash passwords without serving.
    public static func bcryptCost(reading reader: ConfigurationReader) throws(ConfigurationError) -> Int {
        try reader.int("BCRYPT_COST", default: 12, in: 4...31)
    }
}
