import Assistant
import HTTPAPI
import HTTPTypes
import Store

extension FuzzHarness {
    /// The JSON bodies of the query, login and note routes as the routes
    /// decode them (400 or 422, nothing else, for a bad body), then the
    /// question's checks and the answer cache's normalization, which must be
    /// idempotent (else a cached answer would never be found again).
    package static let requestBody = FuzzHarness(name: "request-body") { bytes in
        if let body = decoded(QueryRequest.self, from: bytes),
           let normalized = try? Question(body.query, maxCharacters: maxQuestionCharacters).normalized,
           let again = try? Question(normalized, maxCharacters: maxQuestionCharacters).normalized {
            precondition(again == normalized, "normalizing \(normalized.debugDescription) again gave \(again.debugDescription)")
        }
        _ = decoded(LoginRequest.self, from: bytes)
        _ = decoded(NoteDraft.self, from: bytes)?.problem()
    }

    private static let maxQuestionCharacters = 2000

    private static func decoded<Body: Decodable>(_ type: Body.Type, from bytes: [UInt8]) -> Body? {
        do {
            return try decodeJSONBody(Body.self, from: bytes)
        } catch {
            precondition([400, 422].contains(error.status.code), "\(Body.self): \(error.status.code) for a bad body")
            return nil
        }
    }
}
