import Foundation
import Testing
import TestSupport

@Suite struct RedisOutageTests {
    @Test func healthSeesRedisGoAndComeBackWithoutHanging() throws {
        let redis = try PrivateRedis()
        defer { withExtendedLifetime(redis) {} }  // its deinit stops the server
        let appliance = try Appliance(users: ["dan@example.com": "password123"], environment: ["REDIS_PORT": String(redis.port)])
        #expect(try HTTPExchange.request("GET", "/api/v1/assistant/health", port: appliance.port).json["status"] as? String == "healthy")

        try redis.stop()
        let start = Date()
        let down = try HTTPExchange.request("GET", "/api/v1/assistant/health", port: appliance.port)
        #expect(Date().timeIntervalSince(start) < 2)
        #expect(down.status == 200)
        #expect(down.json["status"] as? String == "degraded")
        #expect((down.json["checks"] as? [String: String])?["redis"] == "disconnected")
        // Requests keep being served and do not hang.
        let loginStart = Date()
        let login = try HTTPExchange.request("POST", "/api/v1/auth/login", port: appliance.port, body: #"{"email":"dan@example.com","password":"password123"}"#)
        #expect(login.status == 200)
        #expect(Date().timeIntervalSince(loginStart) < 2)

        try redis.start()
        try waitUntil("health reports redis connected again", timeout: .seconds(5)) {
            (try? HTTPExchange.request("GET", "/api/v1/assistant/health", port: appliance.port))?.json["status"] as? String == "healthy"
        }
    }
}
