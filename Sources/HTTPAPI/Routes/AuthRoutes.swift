import Auth
import Hummingbird
import Store

/// The login route's body, `{"email", "password"}`.
package struct LoginRequest: Decodable {
    package let email: String
    package let password: String
}

/// POST /api/v1/auth/login: email and password for a bearer token.
struct AuthRoutes {
    struct TokenResponse: Encodable {
        let access_token: String
        let token_type = "bearer"
        let expires_in: Int
    }

    let users: UserStore
    let tokens: AccessTokens
    let throttle: LoginThrottle

    func add(to router: Router<AppRequestContext>) {
        router.post("/api/v1/auth/login") { request, context in
            try await login(request, context)
        }
    }

    private func login(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let body = try await decodeJSON(LoginRequest.self, from: request, context: context)
        guard body.email.utf8.count <= 254, body.password.utf8.count <= 1024 else {
            throw APIError(.unprocessableContent, "Email or password is too long")
        }
        try await throttle.checkAllowed(email: body.email, address: context.peerAddress)
        guard let user = try await users.authenticate(email: body.email, password: body.password) else {
            await throttle.recordFailure(email: body.email, address: context.peerAddress)
            throw AuthError(code: .invalidCredentials, message: "Incorrect email or password")
        }
        let token = try await tokens.issue(userID: user.id)
        return try jsonResponse(TokenResponse(access_token: token, expires_in: tokens.lifetimeSeconds))
    }
}
