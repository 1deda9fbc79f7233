import Hummingbird
import Primitives

/// An error answered to the client as `{"detail": "..."}` with its status and headers.
public struct APIError: HTTPResponseError, Sendable {
    public let status: HTTPResponse.Status
    public let detail: String
    public let headers: HTTPFields

    public init(_ status: HTTPResponse.Status, _ detail: String, headers: HTTPFields = [:]) {
        self.status = status
        self.detail = detail
        self.headers = headers
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        Self.response(status: status, detail: detail, headers: headers)
    }

    /// The JSON error response every error path produces.
    static func response(status: HTTPResponse.Status, detail: String, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: #"{"detail":"# + JSONText.string(detail) + "}")))
    }
}
