/// Every failure of the Redis client, with what is needed to act on it.
public struct RedisError: Error, CustomStringConvertible, Sendable, Equatable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Sendable {
            case connectionFailed = "connection failed"
            case connectionClosed = "connection closed"
            case timeout = "timeout"
            case serverError = "server error"
            case protocolError = "protocol error"
            case shutDown = "client shut down"
        }
        let base: Base
        /// Redis could not be reached (or AUTH/SELECT failed); retried with backoff.
        public static let connectionFailed = Code(base: .connectionFailed)
        /// The connection closed with the command in flight: it may or may not have run.
        public static let connectionClosed = Code(base: .connectionClosed)
        /// No reply within the call's deadline: the command may still run.
        public static let timeout = Code(base: .timeout)
        /// Redis answered with an error reply (`-ERR`, `-NOSCRIPT`, ...).
        public static let serverError = Code(base: .serverError)
        /// The bytes from Redis are not RESP.
        public static let protocolError = Code(base: .protocolError)
        /// The client was shut down.
        public static let shutDown = Code(base: .shutDown)
        public var description: String { base.rawValue }
    }

    public let code: Code
    public let message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    /// Whether the command may have run although no reply came (a timeout,
    /// or the connection closing with it in flight): what it took must be given back.
    public var mayHaveRun: Bool { code == .timeout || code == .connectionClosed }

    public var description: String { "Redis \(code): \(message)" }
}
