/// Why a login or a token was refused.
public struct AuthError: Error, CustomStringConvertible, Sendable, Equatable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Sendable {
            case invalidCredentials = "invalid credentials"
            case invalidToken = "invalid token"
            case tooManyAttempts = "too many attempts"
        }
        let base: Base
        /// Unknown email or wrong password (never says which).
        public static let invalidCredentials = Code(base: .invalidCredentials)
        /// Missing, malformed, badly signed, wrong-algorithm or expired token.
        public static let invalidToken = Code(base: .invalidToken)
        /// The email or the client address made too many attempts; see ``retryAfterSeconds``.
        public static let tooManyAttempts = Code(base: .tooManyAttempts)
        public var description: String { base.rawValue }
    }

    public let code: Code
    public let message: String
    /// Seconds until another attempt is allowed (`.tooManyAttempts` only).
    public let retryAfterSeconds: Int?

    public init(code: Code, message: String, retryAfterSeconds: Int? = nil) {
        self.code = code
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }

    public var description: String { message }
}
