import FoundationEssentials
import JWTKit

/// Issues and verifies the bearer tokens that login hands out: HS256 JWTs
/// with the user id as subject, signed with `JWT_SECRET`.
///
/// Only HS256 with our key verifies: `alg: none` and other algorithms are
/// refused by the key collection. Thread-safe.
public struct AccessTokens: Sendable {
    struct Payload: JWTPayload {
        var sub: SubjectClaim
        var iat: IssuedAtClaim
        var exp: ExpirationClaim

        func verify(using algorithm: some JWTAlgorithm) throws {
            try exp.verifyNotExpired()
        }
    }

    private let keys: JWTKeyCollection
    /// Token lifetime in seconds (`JWT_TTL_SECONDS`).
    public let lifetimeSeconds: Int

    public init(secret: String, lifetimeSeconds: Int) async {
        self.keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        self.lifetimeSeconds = lifetimeSeconds
    }

    /// A signed token for `userID`, valid for ``lifetimeSeconds`` from `now`.
    public func issue(userID: Int, now: Date = Date()) async throws -> String {
        let payload = Payload(
            sub: SubjectClaim(value: String(userID)),
            iat: IssuedAtClaim(value: now),
            exp: ExpirationClaim(value: now.addingTimeInterval(Double(lifetimeSeconds))))
        return try await keys.sign(payload)
    }

    /// The user id of a valid token.
    /// - Throws: ``AuthError`` `.invalidToken`, whatever is wrong with it.
    public func verify(_ token: String) async throws(AuthError) -> Int {
        do {
            let payload = try await keys.verify(token, as: Payload.self)
            guard let userID = Int(payload.sub.value) else { throw AuthError(code: .invalidToken, message: "Invalid token subject") }
            return userID
        } catch let error as JWTError where error.errorType == .claimVerificationFailure {
            throw AuthError(code: .invalidToken, message: "Token has expired")
        } catch {
            throw AuthError(code: .invalidToken, message: "Invalid authentication token")
        }
    }
}
