/// An error that says how it reads to a client: its status, `{"detail": ...}`
/// and headers. nil: not the client's to see (a 500, logged). Each error type
/// answers for itself in its own `Type+HTTP.swift`; ``ErrorMiddleware`` only asks.
protocol HTTPAnswerable: Error {
    var answer: APIError? { get }
}

extension APIError: HTTPAnswerable {
    var answer: APIError? { self }
}
