import Hummingbird

/// Counts every answered request by route pattern (never the raw path, so
/// ids do not make new series), method and status.
struct MetricsMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    let metrics: WorkerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let response = try await next(request, context)
        metrics.countRequest(route: context.endpointPath ?? "unmatched", method: request.method.rawValue, status: response.status.code)
        return response
    }
}
