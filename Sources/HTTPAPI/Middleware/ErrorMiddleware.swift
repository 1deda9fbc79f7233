import Assistant
import Auth
import Hummingbird
import LLM
import Logging
import NIOHTTP1
import PostgresClient
import Store

/// Turns every error into `{"detail": ...}` with the right status, so no
/// route ever answers Hummingbird's own error shape or an empty 500.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return error.response()
        } catch let error as HTTPError {
            return APIError.response(status: error.status, detail: error.body ?? error.status.reasonPhrase, headers: error.headers)
        } catch let error as AuthError {
            return Self.response(for: error).response()
        } catch let error as LLMError {
            return Self.response(for: error).response()
        } catch is CancellationError {
            return APIError(.serviceUnavailable, "The request was cancelled").response()  // the client has gone; nobody reads this
        } catch let error as AssistantError {
            return APIError(.unprocessableContent, error.message).response()
        } catch let error as StoreError where error.code == .invalidInput {
            return APIError(.unprocessableContent, error.message).response()
        } catch is HTTPParserError {  // the body's framing broke while it was read (e.g. a garbage chunk size)
            return APIError(.badRequest, "Malformed HTTP request", headers: [.connection: "close"]).response()
        } catch let error as PostgresError where error.isUnavailable {
            return APIError(.serviceUnavailable, "The database is unavailable right now; retry shortly", headers: [.retryAfter: "1"]).response()
        } catch let error as any HTTPResponseError {
            return APIError.response(status: error.status, detail: error.status.reasonPhrase)
        } catch {
            context.logger.error("Request failed: \(error)")
            return APIError(.internalServerError, "Internal server error").response()
        }
    }

    /// An open circuit or a rate-limited provider is a 503 the client may retry
    /// after Retry-After; a timeout is 504; anything else the upstream did is 502.
    static func response(for error: LLMError) -> APIError {
        switch error {
        case .circuitOpen(let seconds), .rateLimited(let seconds):
            APIError(.serviceUnavailable, "The language model is unavailable right now; retry in \(seconds) s", headers: [.retryAfter: String(seconds)])
        case .timedOut:
            APIError(.gatewayTimeout, "The language model did not answer in time")
        case .upstreamStatus, .upstreamFailed, .unreachable:
            APIError(.badGateway, "The language model failed to answer")
        }
    }

    static func response(for error: AuthError) -> APIError {
        switch error.code {
        case .tooManyAttempts:
            return APIError(.tooManyRequests, error.message, headers: [.retryAfter: String(error.retryAfterSeconds ?? 60)])
        default:
            return APIError(.unauthorized, error.message, headers: [.wwwAuthenticate: "Bearer"])
        }
    }
}

extension APIError {
    func response() -> Response { Self.response(status: status, detail: detail, headers: headers) }
}
