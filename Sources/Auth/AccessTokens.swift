import FoundationEssentials
import JWTKit
import Synchronization

/// Issues and verifies the bearer tokens that login hands out: HS256 JWTs
/// with the user id as subject, signed with `JWT_SECRET`.
///
/// Only HS256 with our key verifies: `alg: none` and other algorithms are
/// refused by the key collection. A token that verified is remembered until
/// it expires (at most ``rememberedLimit`` of them), so a client's next
/// requests skip the signature check and the JSON of its claims: the same
/// bytes under the same key verify the same way. Thread-safe.
public struct AccessTokens: Sendable {
    struct Payload: JWTPayload {
        var sub: SubjectClaim
        var iat: IssuedAtClaim
        var exp: ExpirationClaim

        func verify(using algorithm: some JWTAlgorithm) throws {
            try exp.verifyNotExpired()
            // Issued in the future (beyond clock skew between hosts): not one of ours.
            guard iat.value <= Date().addingTimeInterval(AccessTokens.clockSkewSeconds) else { throw IssuedInTheFuture() }
        }
    }

    private let keys: JWTKeyCollection
    /// Token lifetime in seconds (`JWT_TTL_SECONDS`).
    public let lifetimeSeconds: Int
    /// Tokens that verified: the user id and when the token expires.
    private let remembered = RememberedTokens()
    static let rememberedLimit = 10_000
    /// How far ahead of this host's clock a token's `iat` may be (another host issued it).
    static let clockSkewSeconds: Double = 60

    public init(secret: String, lifetimeSeconds: Int) async {
        self.keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        self.lifetimeSeconds = lifetimeSeconds
    }

    /// A signed token for `userID`, valid for ``lifetimeSeconds`` from `now`
    /// (whole seconds: RFC 7519's NumericDate, as most clients expect it).
    public func issue(userID: Int, now: Date = Date()) async throws -> String {
        let now = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
        let payload = Payload(
            sub: SubjectClaim(value: String(userID)),
            iat: IssuedAtClaim(value: now),
            exp: ExpirationClaim(value: now.addingTimeInterval(Double(lifetimeSeconds))))
        return try await keys.sign(payload)
    }

    /// The user id of a valid token.
    /// - Throws: ``AuthError`` `.invalidToken`, whatever is wrong with it.
    public func verify(_ token: String) async throws(AuthError) -> Int {
        if let userID = remembered.userID(for: token, now: Date()) { return userID }
        guard Self.algorithm(of: token) == "HS256" else { throw AuthError(code: .invalidToken, message: "Invalid authentication token") }
        do {
            let payload = try await keys.verify(token, as: Payload.self)
            guard let userID = Int(payload.sub.value) else { throw AuthError(code: .invalidToken, message: "Invalid token subject") }
            remembered.remember(token, userID: userID, expires: payload.exp.value)
            return userID
        } catch let error as JWTError where error.errorType == .claimVerificationFailure {
            throw AuthError(code: .invalidToken, message: "Token has expired")
        } catch {
            throw AuthError(code: .invalidToken, message: "Invalid authentication token")
        }
    }
}

extension AccessTokens {
    struct Header: Decodable {
        let alg: String
    }

    /// The `alg` of the token's header. jwt-kit verifies with our one key
    /// whatever the header names, so the header is checked here (RFC 8725
    /// §3.1: accept only the algorithm we sign with).
    static func algorithm(of token: String) -> String? {
        guard let encoded = token.split(separator: ".", maxSplits: 1).first, encoded.utf8.count <= 1024 else { return nil }
        var base64 = String(encoded.map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 })
        base64 += String(repeating: "=", count: (4 - base64.utf8.count % 4) % 4)
        guard let header = Data(base64Encoded: base64) else { return nil }
        return try? JSONDecoder().decode(Header.self, from: header).alg
    }
}

/// A token whose `iat` is ahead of this host's clock by more than the skew allowed.
struct IssuedInTheFuture: Error {}

/// The tokens that verified, until they expire. Cleared whole when full (a
/// token forgotten is verified again, nothing worse).
final class RememberedTokens: Sendable {
    private let tokens = Mutex<[String: (userID: Int, expires: Date)]>([:])

    func userID(for token: String, now: Date) -> Int? {
        tokens.withLock { tokens in
            guard let entry = tokens[token] else { return nil }
            guard entry.expires > now else {
                tokens[token] = nil
                return nil
            }
            return entry.userID
        }
    }

    func remember(_ token: String, userID: Int, expires: Date) {
        tokens.withLock { tokens in
            if tokens.count >= AccessTokens.rememberedLimit { tokens.removeAll(keepingCapacity: true) }
            tokens[token] = (userID, expires)
        }
    }
}
