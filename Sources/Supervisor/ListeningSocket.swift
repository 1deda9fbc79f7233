#if canImport(Glibc)
import Glibc
#endif

/// A TCP listening socket with SO_REUSEPORT, created by the supervisor and
/// kept open for its whole life; workers accept on inherited copies.
public struct ListeningSocket: Sendable {
    /// The socket's file descriptor.
    public let descriptor: CInt
    /// The bound port (the kernel's pick when asked for port 0).
    public let port: Int

    /// `count` sockets (at least one) on `host:port`, one per worker slot; port 0 binds the first on a free port and the others on the same.
    public static func bindSlots(host: String, port: Int, count: Int) throws(SupervisorError) -> [ListeningSocket] {
        let first = try bind(host: host, port: port)
        return try [first] + (1..<max(count, 1)).map { _ throws(SupervisorError) in try bind(host: host, port: first.port) }
    }

    /// Binds `host:port` (an IPv4 or IPv6 literal, or a name that resolves) and listens.
    /// - Throws: ``SupervisorError`` `.bindFailed` naming the address and the reason.
    public static func bind(host: String, port: Int, backlog: CInt = 1024) throws(SupervisorError) -> ListeningSocket {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = CInt(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let resolved = getaddrinfo(host, String(port), &hints, &list)
        guard resolved == 0, let first = list else {
            throw SupervisorError(code: .bindFailed, message: "cannot resolve \(host): \(String(cString: gai_strerror(resolved)))")
        }
        defer { freeaddrinfo(list) }
        let address = first.pointee
        let descriptor = socket(address.ai_family, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw failure("socket", host, port) }
        var one: CInt = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<CInt>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<CInt>.size))
        guard Glibc.bind(descriptor, address.ai_addr, address.ai_addrlen) == 0, listen(descriptor, backlog) == 0 else {
            let error = failure("bind", host, port)
            close(descriptor)
            throw error
        }
        return ListeningSocket(descriptor: descriptor, port: boundPort(descriptor) ?? port)
    }

    private static func boundPort(_ descriptor: CInt) -> Int? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) == 0 }
        }
        guard ok else { return nil }
        let family = storage.ss_family
        return withUnsafePointer(to: &storage) { pointer -> Int in
            if family == sa_family_t(AF_INET6) {
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
            }
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
        }
    }

    private static func failure(_ call: String, _ host: String, _ port: Int) -> SupervisorError {
        SupervisorError(code: .bindFailed, message: "cannot listen on \(host):\(port) (\(call)): \(String(cString: strerror(errno)))")
    }
}
