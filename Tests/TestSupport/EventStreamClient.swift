import Foundation

/// A streamed request over a fresh connection, read as it arrives: every
/// read is kept with when it came, so a test can tell when an event reached
/// the client, and can leave mid-stream.
public final class EventStreamClient {
    /// One server-sent event as received.
    public struct Event: Sendable, Equatable {
        public let name: String
        public let data: String

        /// The data parsed as a JSON object.
        public var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(data.utf8))) as? [String: Any] ?? [:]
        }

        public static func == (lhs: Event, rhs: Event) -> Bool { lhs.name == rhs.name && lhs.data == rhs.data }
    }

    let descriptor: CInt
    public private(set) var reads: [(at: ContinuousClock.Instant, bytes: [UInt8])] = []
    /// The server closed its end (or reset the connection).
    public private(set) var isClosed = false
    /// This client closed the connection.
    private var left = false

    /// Sends the query with `Accept: text/event-stream` (or as `body` says) and `Connection: close`.
    public init(port: Int, token: String, query: String = "grace", headers: [String: String] = ["Accept": "text/event-stream"], body: String? = nil) throws {
        descriptor = try connectLoopback(port: port)
        let text = HTTPExchange.requestText(
            "POST", "/api/v1/assistant/query", port: port, body: body ?? #"{"query":"\#(query)"}"#,
            headers: headers.merging(["Authorization": "Bearer \(token)"]) { $1 })
        _ = Array(text.utf8).withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Reads until `marker` has arrived, the server closed, or `timeout`; whether the marker came.
    @discardableResult
    public func read(until marker: String? = nil, timeout: Duration = .seconds(15)) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !isClosed {
            if let marker, text.contains(marker) { return true }
            let left = deadline - .now
            guard left > .zero else { return false }
            var descriptors = [pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)]
            guard poll(&descriptors, 1, CInt(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000)) > 0 else { return false }
            var buffer = [UInt8](repeating: 0, count: 65536)
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count <= 0 { isClosed = true } else { reads.append((.now, Array(buffer[0..<count]))) }
        }
        return marker.map { text.contains($0) } ?? true
    }

    /// Everything received so far.
    public var text: String { String(decoding: reads.flatMap(\.bytes), as: UTF8.self) }

    /// The response as an exchange (read it to the end first).
    public var exchange: HTTPExchange { get throws { try HTTPExchange.parse(text) } }

    /// The events of the (dechunked) body, in order.
    public var events: [Event] {
        get throws {
            try exchange.body.components(separatedBy: "\n\n").compactMap { block in
                let lines = block.split(separator: "\n")
                guard let name = lines.first(where: { $0.hasPrefix("event: ") })?.dropFirst(7) else { return nil }
                let data = lines.filter { $0.hasPrefix("data: ") }.map { $0.dropFirst(6) }.joined(separator: "\n")
                return Event(name: String(name), data: data)
            }
        }
    }

    /// When the read that completed `marker` arrived.
    public func arrival(of marker: String) -> ContinuousClock.Instant? {
        var seen: [UInt8] = []
        for read in reads {
            seen += read.bytes
            if String(decoding: seen, as: UTF8.self).contains(marker) { return read.at }
        }
        return nil
    }

    /// Leaves: closes the connection whatever is still coming.
    public func close() {
        guard !left else { return }
        left = true
        isClosed = true
        Foundation.close(descriptor)
    }

    deinit { close() }
}
