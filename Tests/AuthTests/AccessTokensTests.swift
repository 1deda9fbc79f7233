import Auth
import Foundation
import Testing

@Suite struct AccessTokensTests {
    static let secret = "unit-test-secret-0123456789abcdef0123456789"

    @Test func anIssuedTokenVerifiesToItsUser() async throws {
        let tokens = await AccessTokens(secret: Self.secret, lifetimeSeconds: 3600)
        let token = try await tokens.issue(userID: 42)
        #expect(try await tokens.verify(token) == 42)
    }

    @Test func anExpiredTokenIsRefusedAsExpired() async throws {
        let tokens = await AccessTokens(secret: Self.secret, lifetimeSeconds: 60)
        let token = try await tokens.issue(userID: 42, now: Date().addingTimeInterval(-120))
        await #expect(throws: AuthError(code: .invalidToken, message: "Token has expired")) { try await tokens.verify(token) }
    }

    @Test func aRememberedTokenIsRefusedOnceItExpires() async throws {
        let tokens = await AccessTokens(secret: Self.secret, lifetimeSeconds: 1)
        let token = try await tokens.issue(userID: 42)
        #expect(try await tokens.verify(token) == 42)
        #expect(try await tokens.verify(token) == 42, "remembered")
        try await Task.sleep(for: .milliseconds(2100))
        await #expect(throws: AuthError.self) { try await tokens.verify(token) }
    }

    @Test func aTokenSignedWithAnotherSecretIsRefused() async throws {
        let other = await AccessTokens(secret: "another-secret-0123456789abcdef0123456789", lifetimeSeconds: 3600)
        let token = try await other.issue(userID: 42)
        let tokens = await AccessTokens(secret: Self.secret, lifetimeSeconds: 3600)
        await #expect(throws: AuthError(code: .invalidToken, message: "Invalid authentication token")) { try await tokens.verify(token) }
    }

    @Test(arguments: ["", "not-a-jwt", "a.b.c"])
    func garbageIsRefused(token: String) async {
        let tokens = await AccessTokens(secret: Self.secret, lifetimeSeconds: 3600)
        await #expect(throws: AuthError.self) { try await tokens.verify(token) }
    }

    @Test func anUnsignedTokenIsRefused() async throws {
        let tokens = await AccessTokens(secret: Self.secret, lifetimeSeconds: 3600)
        let signed = try await tokens.issue(userID: 42)
        let parts = signed.split(separator: ".")
        let header = Data(#"{"alg":"none","typ":"JWT"}"#.utf8).base64EncodedString()
            .replacingOccurrences(of: "=", with: "").replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        await #expect(throws: AuthError.self) { try await tokens.verify("\(header).\(parts[1]).") }
    }
}
