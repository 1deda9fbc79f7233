/// Every failure of the PostgreSQL layer, with what is needed to act on it.
public struct PostgresError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is; callers switch on it.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Sendable {
            case connectionFailed = "connection failed"
            case connectionLost = "connection lost"
            case queryFailed = "query failed"
            case constraintViolation = "constraint violation"
            case poolTimeout = "pool timeout"
            case poolShutdown = "pool shut down"
            case invalidParameter = "invalid parameter"
            case decodingFailed = "decoding failed"
        }
        let base: Base
        /// The server could not be reached or refused the login.
        public static let connectionFailed = Code(base: .connectionFailed)
        /// The connection broke during a call; the statement's fate is unknown.
        public static let connectionLost = Code(base: .connectionLost)
        /// The server rejected the statement (syntax, permissions, timeout...).
        public static let queryFailed = Code(base: .queryFailed)
        /// A unique, foreign-key, not-null or check constraint refused the change (SQLSTATE class 23).
        public static let constraintViolation = Code(base: .constraintViolation)
        /// No connection became free before the deadline.
        public static let poolTimeout = Code(base: .poolTimeout)
        /// The pool was shut down.
        public static let poolShutdown = Code(base: .poolShutdown)
        /// A parameter cannot be sent (PostgreSQL text cannot hold a NUL byte).
        public static let invalidParameter = Code(base: .invalidParameter)
        /// A column's text does not convert to the requested type.
        public static let decodingFailed = Code(base: .decodingFailed)
        public var description: String { base.rawValue }
    }

    public let code: Code
    /// The server's or libpq's message, or ours.
    public let message: String
    /// The five-character SQLSTATE, when the server sent one.
    public let sqlState: String?
    /// The constraint named by a constraint violation.
    public let constraint: String?

    public init(code: Code, message: String, sqlState: String? = nil, constraint: String? = nil) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.constraint = constraint
    }

    /// The database could not be reached (or no connection freed in time):
    /// the same request may succeed later.
    public var isUnavailable: Bool {
        [.connectionFailed, .connectionLost, .poolTimeout].contains(code)
    }

    public var description: String {
        var text = "PostgreSQL \(code): \(message)"
        if let sqlState { text += " (SQLSTATE \(sqlState))" }
        if let constraint { text += " [constraint \(constraint)]" }
        return text
    }
}
