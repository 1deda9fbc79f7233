import FoundationEssentials
import Hummingbird

/// Reads a JSON request body into `Body`, with errors a client can act on:
/// 415 when `Content-Type` names another type (a body without one is read
/// as JSON; curl's `-d` sends a form type, which is refused), 413 when too large,
/// 400 when not JSON, 422 naming the field that is missing or of the wrong type.
func decodeJSON<Body: Decodable>(_ type: Body.Type, from request: Request, context: AppRequestContext) async throws -> Body {
    if let contentType = request.headers[.contentType], !isJSON(contentType) {
        throw APIError(.unsupportedMediaType, "Content-Type must be application/json")
    }
    let buffer = try await request.body.collect(upTo: context.maxUploadSize)
    return try decodeJSONBody(Body.self, from: buffer.readableBytesView)
}

/// A collected request body as `Body`: 400 when not JSON, 422 naming the
/// field that is missing or of the wrong type, or for an escaped NUL.
/// The part of ``decodeJSON(_:from:context:)`` that sees only bytes (the fuzzers call it).
package func decodeJSONBody<Body: Decodable>(_ type: Body.Type, from bytes: some Collection<UInt8>) throws(APIError) -> Body {
    let body: Body
    do {
        body = try JSONDecoder().decode(Body.self, from: Data(bytes))
    } catch let error as DecodingError {
        throw describe(error)
    } catch {
        throw APIError(.badRequest, "Request body is not valid JSON")
    }
    // PostgreSQL's text cannot hold U+0000, and C APIs (bcrypt) would cut a string at it.
    guard !containsEscapedNUL(bytes) else {
        throw APIError(.unprocessableContent, "Text must not contain NUL characters (\\u0000)")
    }
    return body
}

/// Whether valid JSON `bytes` has a `\u0000` escape (raw NULs are invalid JSON already).
func containsEscapedNUL(_ bytes: some Collection<UInt8>) -> Bool {
    var iterator = bytes.makeIterator()
    while let byte = iterator.next() {
        guard byte == UInt8(ascii: "\\") else { continue }
        guard iterator.next() == UInt8(ascii: "u") else { continue }  // any other escape is one character: skipped
        let digits = (0..<4).map { _ in iterator.next() }
        if digits.allSatisfy({ $0 == UInt8(ascii: "0") }) { return true }
    }
    return false
}

/// `application/json` or a `+json` type, any case, with or without parameters.
func isJSON(_ contentType: String) -> Bool {
    let mediaType = String(contentType.prefix { $0 != ";" }.filter { !$0.isWhitespace }).lowercased()
    return mediaType == "application/json" || (mediaType.hasPrefix("application/") && mediaType.hasSuffix("+json"))
}

private func describe(_ error: DecodingError) -> APIError {
    func field(_ context: DecodingError.Context) -> String {
        context.codingPath.map(\.stringValue).joined(separator: ".")
    }
    switch error {
    case .keyNotFound(let key, _):
        return APIError(.unprocessableContent, "Field '\(key.stringValue)' is required")
    case .typeMismatch(let type, let context) where !context.codingPath.isEmpty:
        return APIError(.unprocessableContent, "Field '\(field(context))' must be \(typeName(type))")
    case .valueNotFound(let type, let context) where !context.codingPath.isEmpty:
        return APIError(.unprocessableContent, "Field '\(field(context))' must be \(typeName(type)), not null")
    case .typeMismatch, .valueNotFound:
        return APIError(.unprocessableContent, "Request body must be a JSON object")
    default:
        return APIError(.badRequest, "Request body is not valid JSON")
    }
}

private func typeName(_ type: Any.Type) -> String {
    switch type {
    case is String.Type: "a string"
    case is Int.Type: "an integer"
    default: "of another type"
    }
}

/// Encodes a response body as JSON.
func jsonResponse(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
    let data = try JSONEncoder().encode(value)
    return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
}
