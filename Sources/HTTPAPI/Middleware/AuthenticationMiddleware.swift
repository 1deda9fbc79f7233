import Auth
import Hummingbird

/// Requires `Authorization: Bearer <token>` and puts the token's user in the context.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let tokens: AccessTokens

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization] else {
            throw AuthError(code: .invalidToken, message: "Not authenticated")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw AuthError(code: .invalidToken, message: "Authorization must be 'Bearer <token>'")
        }
        var context = context
        let userID = try await tokens.verify(String(parts[1]))
        context.userID = userID
        context.access.record(userID: userID)
        return try await next(request, context)
    }
}
