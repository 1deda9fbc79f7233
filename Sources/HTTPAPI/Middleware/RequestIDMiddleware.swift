import HTTPTypes
import Hummingbird
import Logging
import Primitives

/// Gives every request an id (the client's `X-Request-ID` when it is sane),
/// logs with it and echoes it on every response.
struct RequestIDMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.requestID = request.headers[.requestID].flatMap(Self.accepted) ?? Self.generate()
        context.logger[metadataKey: "request_id"] = .string(context.requestID)
        var response = try await next(request, context)
        response.headers[.requestID] = context.requestID
        return response
    }

    /// Up to 128 printable ASCII characters; anything else is replaced.
    static func accepted(_ id: String) -> String? {
        guard !id.isEmpty, id.utf8.count <= 128, id.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else { return nil }
        return id
    }

    static func generate() -> String { RandomID.hex(words: 2) }
}

extension HTTPField.Name {
    static let requestID = Self("X-Request-ID")!
}
