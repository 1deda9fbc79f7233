import Crypto
import Foundation
import Testing
import TestSupport

/// One appliance with the KJV library and two users, shared by the suite.
let sharedAppliance = Result { try Appliance(library: try TestEnvironment.kjvPath, users: ["ann@example.com": "password123", "bob@example.com": "password456"]) }

func token(_ email: String, _ password: String, port: Int) throws -> String {
    let response = try HTTPExchange.request("POST", "/api/v1/auth/login", port: port, body: #"{"email":"\#(email)","password":"\#(password)"}"#)
    return try #require(response.json["access_token"] as? String, "login failed: \(response.body)")
}

/// A JWT signed with `secret` (HS256) or unsigned (`alg: none`).
func handmadeJWT(subject: String, expires: Date, secret: String?) -> String {
    handmadeJWT(payload: #"{"sub":"\#(subject)","iat":\#(Int(expires.timeIntervalSince1970) - 7200),"exp":\#(Int(expires.timeIntervalSince1970))}"#, secret: secret)
}

/// A JWT of the claims `payload` (JSON), signed with `secret` (HS256) or unsigned (`alg: none`).
func handmadeJWT(payload claims: String, secret: String?) -> String {
    func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
    let header = base64URL(Data((secret == nil ? #"{"alg":"none","typ":"JWT"}"# : #"{"alg":"HS256","typ":"JWT"}"#).utf8))
    let payload = base64URL(Data(claims.utf8))
    guard let secret else { return "\(header).\(payload)." }
    let signature = HMAC<SHA256>.authenticationCode(for: Data("\(header).\(payload)".utf8), using: SymmetricKey(data: Data(secret.utf8)))
    return "\(header).\(payload).\(base64URL(Data(signature)))"
}

@Suite struct WorkerTests {
    let appliance: Appliance
    var port: Int { appliance.port }

    init() throws {
        appliance = try sharedAppliance.get()
    }

    @Test func loginReturnsABearerToken() throws {
        let response = try HTTPExchange.request("POST", "/api/v1/auth/login", port: port, body: #"{"email":"ann@example.com","password":"password123"}"#)
        #expect(response.status == 200)
        #expect(response.json["token_type"] as? String == "bearer")
        #expect(response.json["expires_in"] as? Int == 3600)
        #expect((response.json["access_token"] as? String)?.split(separator: ".").count == 3)
    }

    @Test(arguments: [("ann@example.com", "wrong-password"), ("nobody@example.com", "password123")])
    func badCredentialsGet401WithoutSayingWhich(email: String, password: String) throws {
        let response = try HTTPExchange.request("POST", "/api/v1/auth/login", port: port, body: #"{"email":"\#(email)","password":"\#(password)"}"#)
        #expect(response.status == 401)
        #expect(response.json["detail"] as? String == "Incorrect email or password")
    }

    @Test func expiredAlgNoneForgedAndMissingTokensGet401() throws {
        let secret = "test-secret-0123456789abcdef0123456789"
        let valid = handmadeJWT(subject: "1", expires: Date().addingTimeInterval(600), secret: secret)
        #expect(try HTTPExchange.request("GET", "/api/v1/notes", port: port, headers: ["Authorization": "Bearer \(valid)"]).status == 200)
        let tokens = [
            "expired": handmadeJWT(subject: "1", expires: Date().addingTimeInterval(-60), secret: secret),
            "alg none": handmadeJWT(subject: "1", expires: Date().addingTimeInterval(600), secret: nil),
            "other key": handmadeJWT(subject: "1", expires: Date().addingTimeInterval(600), secret: "another-secret-0123456789abcdef01234"),
            "garbage": "not.a.token",
        ]
        for (name, token) in tokens {
            let response = try HTTPExchange.request("GET", "/api/v1/notes", port: port, headers: ["Authorization": "Bearer \(token)"])
            #expect(response.status == 401, "\(name)")
            #expect(response.json["detail"] != nil, "\(name)")
        }
        #expect(try HTTPExchange.request("GET", "/api/v1/notes", port: port).status == 401)
    }

    @Test func notesAreIsolatedBetweenUsers() throws {
        let ann = try token("ann@example.com", "password123", port: port)
        let bob = try token("bob@example.com", "password456", port: port)
        let created = try HTTPExchange.request("POST", "/api/v1/notes", port: port, body: #"{"title":"Ann's sermon","body":"Grace and peace.","preached_on":"2025-03-02"}"#, headers: ["Authorization": "Bearer \(ann)"])
        #expect(created.status == 201)
        let id = try #require(created.json["id"] as? Int)
        #expect(created.json["preached_on"] as? String == "2025-03-02")
        for method in ["GET", "PUT", "DELETE"] {
            let body = method == "PUT" ? #"{"title":"taken","body":"over"}"# : nil
            let response = try HTTPExchange.request(method, "/api/v1/notes/\(id)", port: port, body: body, headers: ["Authorization": "Bearer \(bob)"])
            #expect(response.status == 404, "\(method) of another user's note")
            #expect(response.json["detail"] as? String == "Note not found")
        }
        let bobsList = try HTTPExchange.request("GET", "/api/v1/notes", port: port, headers: ["Authorization": "Bearer \(bob)"])
        #expect(!bobsList.body.contains("Ann's sermon"))
        let annsNote = try HTTPExchange.request("GET", "/api/v1/notes/\(id)", port: port, headers: ["Authorization": "Bearer \(ann)"])
        #expect(annsNote.json["title"] as? String == "Ann's sermon")
        let updated = try HTTPExchange.request("PUT", "/api/v1/notes/\(id)", port: port, body: #"{"title":"Ann's sermon, revised","body":"Grace upon grace."}"#, headers: ["Authorization": "Bearer \(ann)"])
        #expect(updated.json["title"] as? String == "Ann's sermon, revised")
        #expect(try HTTPExchange.request("DELETE", "/api/v1/notes/\(id)", port: port, headers: ["Authorization": "Bearer \(ann)"]).status == 204)
        #expect(try HTTPExchange.request("GET", "/api/v1/notes/\(id)", port: port, headers: ["Authorization": "Bearer \(ann)"]).status == 404)
    }

    @Test func notesListIsPaginatedWithACursor() throws {
        let appliance = try Appliance(users: ["carol@example.com": "password789"], environment: ["WORKERS": "1"])  // WORKERS=1 works too
        let carol = try token("carol@example.com", "password789", port: appliance.port)
        for index in 1...3 {
            _ = try HTTPExchange.request("POST", "/api/v1/notes", port: appliance.port, body: #"{"title":"Note \#(index)","body":"Body \#(index)"}"#, headers: ["Authorization": "Bearer \(carol)"])
        }
        let first = try HTTPExchange.request("GET", "/api/v1/notes?limit=2", port: appliance.port, headers: ["Authorization": "Bearer \(carol)"])
        #expect((first.json["notes"] as? [[String: Any]])?.compactMap { $0["title"] as? String } == ["Note 1", "Note 2"])
        let cursor = try #require(first.json["next_cursor"] as? String)
        let second = try HTTPExchange.request("GET", "/api/v1/notes?limit=2&cursor=\(cursor)", port: appliance.port, headers: ["Authorization": "Bearer \(carol)"])
        #expect((second.json["notes"] as? [[String: Any]])?.compactMap { $0["title"] as? String } == ["Note 3"])
        #expect(second.json["next_cursor"] is NSNull)
        #expect(try HTTPExchange.request("GET", "/api/v1/notes?limit=0", port: appliance.port, headers: ["Authorization": "Bearer \(carol)"]).status == 422)
    }

    @Test func queryFindsEphesians2v8ForSavedByGraceThroughFaith() throws {
        let ann = try token("ann@example.com", "password123", port: port)
        let response = try HTTPExchange.request("POST", "/api/v1/assistant/query", port: port, body: #"{"query":"saved by grace through faith"}"#, headers: ["Authorization": "Bearer \(ann)"])
        #expect(response.status == 200, "\(response.body)")
        let sources = try #require(response.json["sources"] as? [[String: Any]])
        #expect(sources.first?["ref"] as? String == "Ephesians 2:8")
        #expect(sources.count == 5)
        #expect((response.json["answer"] as? String)?.contains("[1] Ephesians 2:8") == true)
        let metadata = try #require(response.json["metadata"] as? [String: Any])
        #expect(metadata["provider"] as? String == "local")
        #expect(metadata["api_cost_usd"] as? Double == 0)
        #expect(metadata["cached"] as? Bool == false)
        #expect((metadata["query_tokens"] as? Int ?? 0) > 0)
        #expect((metadata["context_tokens"] as? Int ?? 0) > 0)
        #expect((metadata["request_duration_seconds"] as? Double ?? -1) >= 0)
    }

    @Test func whatIsGraceRanksRomans11v6First() throws {
        let ann = try token("ann@example.com", "password123", port: port)
        let response = try HTTPExchange.request("POST", "/api/v1/assistant/query", port: port, body: #"{"query":"What is grace?"}"#, headers: ["Authorization": "Bearer \(ann)"])
        let sources = try #require(response.json["sources"] as? [[String: Any]])
        #expect(sources.first?["ref"] as? String == "Romans 11:6")
    }

    @Test(arguments: [
        (#"{"query": "grace"#, 400, "Request body is not valid JSON"),
        (#"{"query": 42}"#, 422, "Field 'query' must be a string"),
        (#"{"question": "grace"}"#, 422, "Field 'query' is required"),
        (#"["grace"]"#, 422, "Request body must be a JSON object"),
        (#"{"query": "   "}"#, 422, "Query must not be empty"),
        (#"{"query": "grace\u0007"}"#, 422, "Query must not contain control characters"),
        ("{\"query\": \"" + String(repeating: "a", count: 2001) + "\"}", 422, "Query is longer than 2000 characters"),
    ])
    func badQueryGetsAClear4xx(body: String, status: Int, detail: String) throws {
        let ann = try token("ann@example.com", "password123", port: port)
        let response = try HTTPExchange.request("POST", "/api/v1/assistant/query", port: port, body: body, headers: ["Authorization": "Bearer \(ann)"])
        #expect(response.status == status)
        #expect(response.json["detail"] as? String == detail)
        #expect(response.headers["x-request-id"] != nil)
    }

    @Test func oversizedBodyGets413() throws {
        let ann = try token("ann@example.com", "password123", port: port)
        let body = "{\"query\": \"" + String(repeating: "a", count: 1_100_000) + "\"}"
        let response = try HTTPExchange.request("POST", "/api/v1/assistant/query", port: port, body: body, headers: ["Authorization": "Bearer \(ann)"])
        #expect(response.status == 413)
        #expect(response.json["detail"] != nil)
    }

    @Test(arguments: ["GARBAGE\r\n\r\n", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n", "GET /\u{1}bad HTTP/1.1\r\n\r\n"])
    func unparseableHTTPGets400WithDetail(raw: String) throws {
        let response = try HTTPExchange.raw(raw, port: port)
        #expect(response.status == 400)
        #expect(response.json["detail"] as? String == "Malformed HTTP request")
    }

    @Test func unknownRouteGets404WithDetail() throws {
        let response = try HTTPExchange.request("GET", "/nope", port: port)
        #expect(response.status == 404)
        #expect(response.json["detail"] != nil)
    }

    @Test func requestIDIsEchoedOrGenerated() throws {
        let echoed = try HTTPExchange.request("GET", "/api/v1/assistant/health", port: port, headers: ["X-Request-ID": "abc-123"])
        #expect(echoed.headers["x-request-id"] == "abc-123")
        let generated = try HTTPExchange.request("GET", "/api/v1/assistant/health", port: port)
        #expect(generated.headers["x-request-id"]?.count == 32)
    }

    @Test func healthReportsEveryCheck() throws {
        let response = try HTTPExchange.request("GET", "/api/v1/assistant/health", port: port)
        #expect(response.status == 200)
        #expect(response.json["status"] as? String == "healthy")
        let checks = try #require(response.json["checks"] as? [String: String])
        // No model at the default folder in the test environment: meaning is off, words rank alone (RetrievalByMeaningTests has it on).
        #expect(checks == [
            "assistant_service": "available", "redis": "connected", "database": "connected", "llm_circuit": "closed",
            "retrieval": "words", "meaning_index": "off",
        ])
    }

    @Test func loginAttemptsPerEmailAreLimited() throws {
        let email = "flood-\(UInt32.random(in: 0...UInt32.max))@example.com"
        var statuses: [Int] = []
        for _ in 0..<11 {
            statuses.append(try HTTPExchange.request("POST", "/api/v1/auth/login", port: port, body: #"{"email":"\#(email)","password":"guess-guess"}"#).status)
        }
        #expect(statuses.prefix(10).allSatisfy { $0 == 401 })
        let last = try HTTPExchange.request("POST", "/api/v1/auth/login", port: port, body: #"{"email":"\#(email)","password":"guess-guess"}"#)
        #expect(last.status == 429)
        #expect(Int(last.headers["retry-after"] ?? "") ?? 0 > 0)
    }
}
