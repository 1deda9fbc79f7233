/// Failures of process supervision.
public struct SupervisorError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Sendable {
            case bindFailed = "bind failed"
        }
        let base: Base
        /// The listening address could not be resolved, bound or listened on.
        public static let bindFailed = Code(base: .bindFailed)
        public var description: String { base.rawValue }
    }

    public let code: Code
    public let message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
