import Hummingbird
import Logging

/// Turns every error into `{"detail": ...}` with the right status, so no
/// route ever answers Hummingbird's own error shape or an empty 500. Each
/// error type says how it reads (``HTTPAnswerable``, `Errors/*+HTTP.swift`);
/// what says nothing is a 500, logged.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as any HTTPAnswerable {
            if let answer = error.answer { return answer.response() }
            return Self.internalError(error, logger: context.logger)
        } catch let error as any HTTPResponseError {
            return APIError.response(status: error.status, detail: error.status.reasonPhrase)
        } catch {
            return Self.internalError(error, logger: context.logger)
        }
    }

    static func internalError(_ error: any Error, logger: Logger) -> Response {
        logger.error("Request failed: \(error)")
        return APIError(.internalServerError, "Internal server error").response()
    }
}

extension APIError {
    func response() -> Response { Self.response(status: status, detail: detail, headers: headers) }
}
