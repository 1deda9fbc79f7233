import Assistant
import HTTPTypes
import PostgresClient
import Store

/// A question the assistant cannot take (empty, too long, control characters): 422.
extension AssistantError: HTTPAnswerable {
    var answer: APIError? { APIError(.unprocessableContent, message) }
}

/// A note or user the store refuses is 422; any other store failure is ours (500).
extension StoreError: HTTPAnswerable {
    var answer: APIError? { code == .invalidInput ? APIError(.unprocessableContent, message) : nil }
}

/// The database down or unreachable is a 503 to retry; a failed statement is ours (500).
extension PostgresError: HTTPAnswerable {
    var answer: APIError? {
        isUnavailable ? APIError(.serviceUnavailable, "The database is unavailable right now; retry shortly", headers: [.retryAfter: "1"]) : nil
    }
}
