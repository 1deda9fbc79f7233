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

/// A `bytea` value, sent and read in PostgreSQL's hex text format (`\x0a1b…`).
public struct PostgresBytes: PostgresBindable, PostgresDecodable, Sendable, Equatable {
    public let bytes: [UInt8]

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    public var postgresText: String? {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = [UInt8(ascii: "\\"), UInt8(ascii: "x")]
        text.reserveCapacity(2 + bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    public init?(postgresText text: String) {
        var utf8 = Array(text.utf8)
        guard utf8.count >= 2, utf8[0] == UInt8(ascii: "\\"), utf8[1] == UInt8(ascii: "x"), utf8.count % 2 == 0 else { return nil }
        utf8.removeFirst(2)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = Self.nibble(utf8[index]), let low = Self.nibble(utf8[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        self.bytes = bytes
    }

    private static func nibble(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
