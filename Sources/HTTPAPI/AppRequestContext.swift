import Hummingbird
import NIOCore

/// Per-request state: the request id, the client's address and, once
/// authenticated, the user.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Echoed in `X-Request-ID`, logged with every line of the request.
    public var requestID: String = ""
    /// The authenticated user, set by ``AuthenticationMiddleware``.
    public var userID: Int?
    /// The TCP peer's address.
    public let peerAddress: String
    /// Shared with the access line (``AccessLogMiddleware``).
    let access = AccessFacts()
    /// Completed when the connection closes (the client left, or the worker closed it).
    let closed: EventLoopFuture<Void>

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        peerAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
        closed = source.channel.closeFuture
    }

    /// Request bodies above this are refused with 413 (a note body is at most 200,000 characters).
    public var maxUploadSize: Int { 1024 * 1024 }

    /// The user id of an authenticated route.
    /// - Throws: 401 when called on a route without ``AuthenticationMiddleware`` (a wiring bug, never user input).
    func requireUserID() throws -> Int {
        guard let userID else { throw APIError(.unauthorized, "Not authenticated") }
        return userID
    }
}
