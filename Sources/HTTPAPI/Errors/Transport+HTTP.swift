import Hummingbird
import NIOHTTP1

/// Hummingbird's own errors, with their status, body and headers.
extension HTTPError: HTTPAnswerable {
    var answer: APIError? { APIError(status, body ?? status.reasonPhrase, headers: headers) }
}

/// The body's framing broke while it was read (e.g. a garbage chunk size).
extension HTTPParserError: HTTPAnswerable {
    var answer: APIError? { APIError(.badRequest, "Malformed HTTP request", headers: [.connection: "close"]) }
}

/// The client has gone; nobody reads this.
extension CancellationError: HTTPAnswerable {
    var answer: APIError? { APIError(.serviceUnavailable, "The request was cancelled") }
}
