/// Reads a `text/event-stream` (the WHATWG HTML standard's server-sent
/// events) as its bytes arrive in arbitrary pieces: lines end with CRLF, LF
/// or CR; `data:` lines are joined with newlines; a blank line dispatches the
/// event; comments (`:`) and `id`/`retry` are ignored. A line longer than
/// ``maxLineBytes`` is an error, so a peer cannot make the reader hold
/// unbounded memory.
public struct ServerSentEventReader: Sendable {
    public struct Event: Sendable, Equatable {
        /// `event:`, or "message" when absent.
        public var name: String
        public var data: String
    }

    public struct LineTooLong: Error, Equatable {}

    public static let maxLineBytes = 1 << 20

    private var line: [UInt8] = []
    private var lastWasCR = false
    private var name = ""
    private var data: [String] = []
    private var hasData = false

    public init() {}

    /// The events completed by `bytes`.
    public mutating func read(_ bytes: some Sequence<UInt8>) throws(LineTooLong) -> [Event] {
        var events: [Event] = []
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\n") where lastWasCR:
                lastWasCR = false
            case UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                lastWasCR = byte == UInt8(ascii: "\r")
                if let event = endLine() { events.append(event) }
            default:
                lastWasCR = false
                guard line.count < Self.maxLineBytes else { throw LineTooLong() }
                line.append(byte)
            }
        }
        return events
    }

    private mutating func endLine() -> Event? {
        defer { line.removeAll(keepingCapacity: true) }
        guard !line.isEmpty else { return dispatch() }
        guard line.first != UInt8(ascii: ":") else { return nil }
        let colon = line.firstIndex(of: UInt8(ascii: ":")) ?? line.endIndex
        let field = String(decoding: line[..<colon], as: UTF8.self)
        var value = line[colon...].dropFirst()
        if value.first == UInt8(ascii: " ") { value = value.dropFirst() }
        switch field {
        case "data":
            data.append(String(decoding: value, as: UTF8.self))
            hasData = true
        case "event":
            name = String(decoding: value, as: UTF8.self)
        default:
            break
        }
        return nil
    }

    private mutating func dispatch() -> Event? {
        defer { (name, data, hasData) = ("", [], false) }
        guard hasData else { return nil }
        return Event(name: name.isEmpty ? "message" : name, data: data.joined(separator: "\n"))
    }
}
