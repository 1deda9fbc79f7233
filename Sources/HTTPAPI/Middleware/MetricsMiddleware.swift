import Hummingbird

/// Counts every answered request by route pattern (never the raw path, so
/// ids do not make new series), method and status.
struct MetricsMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    let metrics: WorkerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let response = try await next(request, context)
        metrics.countRequest(route: Self.route(context.endpointPath), method: request.method.rawValue, status: response.status.code)
        return response
    }

    /// The matched route's pattern, or `unmatched` (Hummingbird names a 404 `NotFound`; patterns start with `/`).
    static func route(_ endpointPath: String?) -> String {
        guard let endpointPath, endpointPath.hasPrefix("/") else { return "unmatched" }
        return endpointPath
    }
}
