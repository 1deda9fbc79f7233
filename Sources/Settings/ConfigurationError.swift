/// A configuration value that cannot be used, or an env file that cannot be read.
///
/// Its ``description`` is the one line an operator sees before the process
/// exits with ``exitCode`` (78, EX_CONFIG): the key, what is wrong and what is
/// accepted. It never contains the value of a secret.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of problem this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Sendable {
            case invalidValue = "invalid value"
            case missingValue = "missing value"
            case conflict = "conflicting values"
            case unreadableFile = "unreadable env file"
            case malformedFile = "malformed env file"
        }
        let base: Base
        /// A value does not parse or lies outside its accepted range.
        public static let invalidValue = Code(base: .invalidValue)
        /// A required key has no value.
        public static let missingValue = Code(base: .missingValue)
        /// Two keys' values contradict each other.
        public static let conflict = Code(base: .conflict)
        /// The env file named with `--env-file` cannot be opened or read.
        public static let unreadableFile = Code(base: .unreadableFile)
        /// A line of the env file is not `KEY=value`.
        public static let malformedFile = Code(base: .malformedFile)
        public var description: String { base.rawValue }
    }

    /// The sysexits(3) status for a configuration error.
    public static let exitCode: Int32 = 78

    public let code: Code
    /// The key at fault, or the file path for file errors.
    public let key: String
    /// What is wrong, without the value of a secret.
    public let problem: String
    /// What would be accepted instead.
    public let accepted: String

    public init(code: Code, key: String, problem: String, accepted: String) {
        self.code = code
        self.key = key
        self.problem = problem
        self.accepted = accepted
    }

    public var description: String {
        "configuration error: \(key): \(problem); accepted: \(accepted)"
    }
}
