import Auth
import HTTPTypes

/// Too many login attempts is a 429 with Retry-After; every other failure a 401 asking for a bearer token.
extension AuthError: HTTPAnswerable {
    var answer: APIError? {
        switch code {
        case .tooManyAttempts: APIError(.tooManyRequests, message, headers: [.retryAfter: String(retryAfterSeconds ?? 60)])
        default: APIError(.unauthorized, message, headers: [.wwwAuthenticate: "Bearer"])
        }
    }
}
