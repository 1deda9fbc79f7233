/// Failures of the data layer that a caller can act on.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Sendable {
            case schemaOutdated = "schema outdated"
            case schemaTooNew = "schema too new"
            case duplicateEmail = "duplicate email"
            case invalidInput = "invalid input"
            case notFound = "not found"
            case invalidImport = "invalid import"
            case unreadableFile = "unreadable file"
        }
        let base: Base
        /// The database lacks migrations this binary needs: run `migrate`.
        public static let schemaOutdated = Code(base: .schemaOutdated)
        /// The database has migrations this binary does not know: upgrade the binary.
        public static let schemaTooNew = Code(base: .schemaTooNew)
        /// A user with that email already exists.
        public static let duplicateEmail = Code(base: .duplicateEmail)
        /// A value breaks a rule (email form, password length, note fields).
        public static let invalidInput = Code(base: .invalidInput)
        /// The user or record does not exist.
        public static let notFound = Code(base: .notFound)
        /// An import file has invalid lines; nothing was imported.
        public static let invalidImport = Code(base: .invalidImport)
        /// An import file cannot be opened or read.
        public static let unreadableFile = Code(base: .unreadableFile)
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
