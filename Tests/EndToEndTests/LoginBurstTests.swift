import Foundation
import Testing
import TestSupport

/// A burst of logins costs bcrypt time on a thread of its own: the
/// database's calls of other requests do not queue behind it.
@Suite struct LoginBurstTests {
    @Test func thirtyLoginsAtOnceDoNotHoldUpOtherRequests() throws {
        let appliance = try Appliance(users: ["ann@example.com": "password123"], environment: ["WORKERS": "1", "BCRYPT_COST": "12"])
        let token = try EndToEndTests.token("ann@example.com", "password123", port: appliance.port)
        let login = HTTPExchange.requestText("POST", "/api/v1/auth/login", port: appliance.port, body: #"{"email":"ann@example.com","password":"password123"}"#)
        let burst = try (0..<30).map { _ in try PendingExchange(login, port: appliance.port) }
        usleep(200_000)  // the logins are queued for bcrypt
        let start = ContinuousClock.now
        let notes = try HTTPExchange.request("GET", "/api/v1/notes", port: appliance.port, headers: ["Authorization": "Bearer \(token)"])
        let waited = ContinuousClock.now - start
        #expect(notes.status == 200, "\(notes.body)")
        // Behind 30 bcrypt hashes of cost 12 (~0.3 s each) it waited seconds; beside them, milliseconds.
        #expect(waited < .seconds(1), "\(waited)")
        #expect(try burst.map { try $0.finish().status } == Array(repeating: 200, count: 30))
    }
}
