/// One Redis reply.
public enum RESPValue: Sendable, Equatable {
    /// `+OK` and other status replies.
    case simpleString(String)
    /// `-ERR ...`: the server refused the command (returned, not thrown, by the wire layer).
    case error(String)
    case integer(Int)
    case bulkString([UInt8])
    /// A nil bulk string or nil array.
    case null
    case array([RESPValue])
}

extension RESPValue {
    /// The reply as text: bulk and simple strings, and integers in decimal.
    public var string: String? {
        switch self {
        case .simpleString(let text): text
        case .bulkString(let bytes): String(decoding: bytes, as: UTF8.self)
        case .integer(let value): String(value)
        default: nil
        }
    }

    /// The reply as an integer: integer replies, and strings holding one.
    public var int: Int? {
        switch self {
        case .integer(let value): value
        case .bulkString, .simpleString: string.flatMap { Int($0) }
        default: nil
        }
    }

    /// The elements of an array reply.
    public var array: [RESPValue]? {
        if case .array(let values) = self { return values }
        return nil
    }
}
