/// Failures of turning text into vectors that a caller can act on.
public struct EmbeddingError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Sendable {
            case modelMissing = "model missing"
            case invalidModel = "invalid model"
            case upstream = "embeddings upstream"
        }
        let base: Base
        /// No model at the configured path: install it, or rank by words alone.
        public static let modelMissing = Code(base: .modelMissing)
        /// The model's files are there but not what the encoder reads (shape, dtype, vocabulary).
        public static let invalidModel = Code(base: .invalidModel)
        /// The external embeddings endpoint failed or answered something unreadable.
        public static let upstream = Code(base: .upstream)
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
