import Foundation

/// One HTTP/1.1 exchange over a fresh TCP connection, raw enough to send
/// malformed requests and to read every header.
public struct HTTPExchange: Sendable {
    public let status: Int
    public let headers: [String: String]
    public let body: String

    /// The body parsed as a JSON object.
    public var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
    }

    /// Sends `raw` bytes to 127.0.0.1:`port` and reads until the server closes.
    public static func raw(_ raw: String, port: Int) throws -> HTTPExchange {
        try PendingExchange(raw, port: port).finish()
    }

    /// A well-formed request with `Connection: close`.
    public static func request(
        _ method: String, _ path: String, port: Int, body: String? = nil, headers: [String: String] = [:]
    ) throws -> HTTPExchange {
        try raw(requestText(method, path, port: port, body: body, headers: headers), port: port)
    }

    /// The bytes of a well-formed request with `Connection: close`.
    public static func requestText(_ method: String, _ path: String, port: Int, body: String? = nil, headers: [String: String] = [:]) -> String {
        var lines = ["\(method) \(path) HTTP/1.1", "Host: 127.0.0.1:\(port)", "Connection: close"]
        var allHeaders = headers
        if let body {
            allHeaders["Content-Type"] = allHeaders["Content-Type"] ?? "application/json"
            allHeaders["Content-Length"] = String(body.utf8.count)
        }
        lines += allHeaders.map { "\($0.key): \($0.value)" }
        return lines.joined(separator: "\r\n") + "\r\n\r\n" + (body ?? "")
    }

    /// The first response in `text`.
    public static func parse(_ text: String) throws -> HTTPExchange {
        guard let split = text.range(of: "\r\n\r\n") else { throw TestEnvironmentError(message: "no HTTP response: \(text.prefix(200))") }
        let head = text[..<split.lowerBound].components(separatedBy: "\r\n")
        let status = Int(head.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = String(text[split.upperBound...])
        if headers["transfer-encoding"] == "chunked" { body = dechunk(body) }
        return HTTPExchange(status: status, headers: headers, body: body)
    }

    static func dechunk(_ text: String) -> String {
        var rest = Substring(text)
        var out = ""
        while let lineEnd = rest.range(of: "\r\n"), let size = Int(rest[..<lineEnd.lowerBound], radix: 16), size > 0 {
            let start = lineEnd.upperBound
            let end = rest.utf8.index(start, offsetBy: size)
            out += rest[start..<end]
            rest = Substring(rest.utf8[end...].dropFirst(2))  // CRLF: one Character, two bytes
        }
        return out
    }
}

/// A request already sent whose response has not been read yet: lets a test
/// put requests in flight, act, then collect the answers.
public final class PendingExchange {
    let descriptor: CInt

    /// Connects to 127.0.0.1:`port` and sends all of `raw`.
    public convenience init(_ raw: String, port: Int) throws {
        try self.init(bytes: Array(raw.utf8), port: port)
    }

    /// Connects to 127.0.0.1:`port` and sends all of `bytes` (which need not be UTF-8).
    public init(bytes: [UInt8], port: Int) throws {
        descriptor = try connectLoopback(port: port)
        _ = bytes.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Reads the response until the server closes the connection.
    public func finish() throws -> HTTPExchange {
        try HTTPExchange.parse(finishText())
    }

    /// Everything the server sent until it closed the connection (several responses to pipelined requests).
    public func finishText() -> String {
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            response += buffer[0..<count]
        }
        return String(decoding: response, as: UTF8.self)
    }

    deinit { close(descriptor) }
}

/// A keep-alive connection: requests one at a time, each response read by
/// its Content-Length, the connection left open.
public final class KeepAliveConnection {
    let descriptor: CInt

    public init(port: Int) throws {
        descriptor = try connectLoopback(port: port)
    }

    /// Sends a GET for `path` and reads its response.
    public func get(_ path: String) throws -> HTTPExchange {
        let text = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        _ = Array(text.utf8).withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { throw TestEnvironmentError(message: "the server closed the connection before answering") }
            response += buffer[0..<count]
            let text = String(decoding: response, as: UTF8.self)
            if let split = text.range(of: "\r\n\r\n") {
                let exchange = try HTTPExchange.parse(text)
                let length = Int(exchange.headers["content-length"] ?? "0") ?? 0
                if text.utf8.distance(from: split.upperBound.samePosition(in: text.utf8)!, to: text.utf8.endIndex) >= length { return exchange }
            }
        }
    }

    /// Whether the server has closed its end (waits up to `timeout`).
    public func isClosedByServer(within timeout: Duration = .milliseconds(500)) -> Bool {
        var descriptors = [pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)]
        guard poll(&descriptors, 1, CInt(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)) > 0 else { return false }
        var byte: UInt8 = 0
        return recv(descriptor, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) <= 0  // closed, or reset
    }

    /// Sends `text` as it is (a part of a request, say); false once the connection is broken.
    public func write(_ text: String) -> Bool {
        Array(text.utf8).withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == text.utf8.count
    }

    deinit { close(descriptor) }
}

/// A TCP connection to 127.0.0.1:`port` with a 40 s receive timeout.
public func connectLoopback(port: Int) throws -> CInt {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    var timeout = timeval(tv_sec: 40, tv_usec: 0)
    setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else {
        close(descriptor)
        throw TestEnvironmentError(message: "cannot connect to port \(port)")
    }
    return descriptor
}
