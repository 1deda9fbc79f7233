import Hummingbird
import Logging
import Synchronization

/// One line per answered request, at info level: method, route pattern
/// (never the raw path: ids and user input stay out of the log), status,
/// duration, user and whether the answer came from the cache. The request id
/// and, when tracing is on, the trace id come with the logger's metadata.
struct AccessLogMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        // A stream logs its own line when it ends, with its duration and bytes (QueryStream).
        guard context.logger.logLevel <= .info, response.headers[.contentType] != QueryStream.contentType else { return response }
        let milliseconds = Self.milliseconds(since: start)
        var metadata: Logger.Metadata = [
            "method": .string(request.method.rawValue),
            "route": .string(MetricsMiddleware.route(context.endpointPath)),
            "status": .stringConvertible(response.status.code),
            "duration_ms": .stringConvertible(milliseconds),
        ]
        if let user = context.access.userID { metadata["user_id"] = .stringConvertible(user) }
        if let cacheStatus = response.headers[.cacheStatus] { metadata["cached"] = .stringConvertible(Self.servedFromCache(cacheStatus)) }
        context.logger.info("request", metadata: metadata)
        return response
    }

    static func milliseconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = (ContinuousClock.now - start).components
        return Double(elapsed.seconds) * 1000 + Double(elapsed.attoseconds / 1_000_000_000_000) / 1000
    }

    /// A `Cache-Status` of `hit` or `collapsed` (an identical request's answer).
    static func servedFromCache(_ cacheStatus: String) -> Bool {
        cacheStatus.contains("; hit") || cacheStatus.contains("collapsed")
    }
}

/// What inner middleware learns that the access line reports: the user,
/// once authenticated. One per request, shared by the context's copies.
final class AccessFacts: Sendable {
    private let user = Atomic<Int>(-1)

    var userID: Int? {
        let id = user.load(ordering: .relaxed)
        return id < 0 ? nil : id
    }

    func record(userID: Int) {
        user.store(userID, ordering: .relaxed)
    }
}
