/// A Swift value sent as a query parameter, in PostgreSQL's text format.
public protocol PostgresBindable: Sendable {
    /// The parameter's text, or nil for SQL NULL.
    var postgresText: String? { get }
}

extension String: PostgresBindable {
    public var postgresText: String? { self }
}
extension Substring: PostgresBindable {
    public var postgresText: String? { String(self) }
}
extension Int: PostgresBindable {
    public var postgresText: String? { String(self) }
}
extension Int64: PostgresBindable {
    public var postgresText: String? { String(self) }
}
extension Int32: PostgresBindable {
    public var postgresText: String? { String(self) }
}
extension Double: PostgresBindable {
    /// Swift prints the shortest text that reads back as the same Double.
    public var postgresText: String? { "\(self)" }
}
extension Bool: PostgresBindable {
    public var postgresText: String? { self ? "t" : "f" }
}
extension Optional: PostgresBindable where Wrapped: PostgresBindable {
    public var postgresText: String? { self?.postgresText }
}

/// A type read back from a column's text.
public protocol PostgresDecodable {
    /// nil when `text` is not a value of this type.
    init?(postgresText text: String)
}

extension String: PostgresDecodable {
    public init?(postgresText text: String) { self = text }
}
extension Int: PostgresDecodable {
    public init?(postgresText text: String) { self.init(text) }
}
extension Int64: PostgresDecodable {
    public init?(postgresText text: String) { self.init(text) }
}
extension Int32: PostgresDecodable {
    public init?(postgresText text: String) { self.init(text) }
}
extension Double: PostgresDecodable {
    public init?(postgresText text: String) { self.init(text) }
}
extension Bool: PostgresDecodable {
    public init?(postgresText text: String) {
        switch text {
        case "t", "true": self = true
        case "f", "false": self = false
        default: return nil
        }
    }
}
