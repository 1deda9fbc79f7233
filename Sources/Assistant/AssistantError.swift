/// A question the assistant will not take.
public struct AssistantError: Error, CustomStringConvertible, Sendable, Equatable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Sendable {
            case invalidQuestion = "invalid question"
        }
        let base: Base
        /// Empty, too long, or holding control characters.
        public static let invalidQuestion = Code(base: .invalidQuestion)
        public var description: String { base.rawValue }
    }

    public let code: Code
    public let message: String

    public var description: String { message }
}
