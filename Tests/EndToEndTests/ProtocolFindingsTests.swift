import Foundation
import Testing
import TestSupport

/// What a client that bends the protocol gets: each case here was a finding
/// of issue 18 (a 500, a 404 for a wrong method, a token for nobody
/// accepted, ...), now a clear 4xx with `{"detail"}`.
@Suite struct ProtocolFindingsTests {
    let appliance: Appliance
    var port: Int { appliance.port }
    static let secret = "test-secret-0123456789abcdef0123456789"

    init() throws {
        appliance = try sharedAppliance.get()
    }

    func bearer() throws -> [String: String] {
        ["Authorization": "Bearer \(try token("ann@example.com", "password123", port: port))"]
    }

    @Test func aGarbageChunkSizeIs400() throws {
        let head = "POST /api/v1/assistant/query HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
        let auth = try bearer().map { "\($0.key): \($0.value)\r\n" }.joined()
        let response = try HTTPExchange.raw(head + auth + "\r\nzz\r\n{\"query\":\"grace\"}\r\n0\r\n\r\n", port: port)
        #expect(response.status == 400, "\(response.body)")
        #expect(response.json["detail"] as? String == "Malformed HTTP request")
    }

    @Test func aValidlySignedTokenForNoUserIs401() throws {
        let nobody = handmadeJWT(subject: "999999", expires: Date().addingTimeInterval(600), secret: Self.secret)
        for (method, path, body) in [("GET", "/api/v1/assistant/stats", nil), ("POST", "/api/v1/notes", #"{"title":"t","body":"b"}"#)] {
            let response = try HTTPExchange.request(method, path, port: port, body: body, headers: ["Authorization": "Bearer \(nobody)"])
            #expect(response.status == 401, "\(method) \(path): \(response.body)")
            #expect(response.json["detail"] as? String == "Invalid authentication token")
        }
    }

    @Test func tokensHaveWholeSecondClaimsAndOneIssuedInTheFutureIsRefused() throws {
        let issued = try token("ann@example.com", "password123", port: port)
        let claims = String(decoding: base64URLDecoded(String(issued.split(separator: ".")[1])), as: UTF8.self)
        #expect(claims.contains(/"iat":\d+[,}]/) && claims.contains(/"exp":\d+[,}]/), "whole seconds: \(claims)")
        let now = Int(Date().timeIntervalSince1970)
        let future = handmadeJWT(payload: #"{"sub":"1","iat":\#(now + 3600),"exp":\#(now + 7200)}"#, secret: Self.secret)
        let response = try HTTPExchange.request("GET", "/api/v1/notes", port: port, headers: ["Authorization": "Bearer \(future)"])
        #expect(response.status == 401)
    }

    @Test(arguments: [
        ("DELETE", "/api/v1/assistant/query", "POST"),
        ("GET", "/api/v1/auth/login", "POST"),
        ("PUT", "/api/v1/notes", "GET, HEAD, POST"),
        ("PATCH", "/api/v1/notes/1", "DELETE, GET, HEAD, PUT"),
        ("POST", "/api/v1/assistant/health", "GET, HEAD"),
        ("QUERY", "/api/v1/notes", "GET, HEAD, POST"),
        ("PROPFIND", "/api/v1/assistant/stats", "GET, HEAD"),
        ("HEAD", "/api/v1/auth/login", "POST"),
    ])
    func aWrongMethodIs405WithAllow(method: String, path: String, allow: String) throws {
        let response = try HTTPExchange.request(method, path, port: port, body: ["GET", "HEAD"].contains(method) ? nil : "{}")
        #expect(response.status == 405, "\(method) \(path)")
        #expect(response.headers["allow"] == allow)
        if method != "HEAD" { #expect(response.json["detail"] as? String == "Method \(method) not allowed; allowed: \(allow)") }
    }

    @Test func headOnAGetRouteAnswersItsHeadWithoutABody() throws {
        let get = try HTTPExchange.request("GET", "/api/v1/assistant/health", port: port)
        let head = try HTTPExchange.request("HEAD", "/api/v1/assistant/health", port: port)
        #expect(head.status == 200)
        #expect(head.body.isEmpty)
        #expect(head.headers["content-length"] == get.headers["content-length"])
        #expect(try HTTPExchange.request("HEAD", "/api/v1/notes", port: port, headers: try bearer()).status == 200)
    }

    @Test(arguments: ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"])
    func aBodyThatIsNotJSONIs415(contentType: String) throws {
        let login = try HTTPExchange.request(
            "POST", "/api/v1/auth/login", port: port, body: #"{"email":"ann@example.com","password":"password123"}"#, headers: ["Content-Type": contentType])
        #expect(login.status == 415, "\(login.body)")
        #expect(login.json["detail"] as? String == "Content-Type must be application/json")
        let query = try HTTPExchange.request(
            "POST", "/api/v1/assistant/query", port: port, body: #"{"query":"grace"}"#, headers: try bearer().merging(["Content-Type": contentType]) { $1 })
        #expect(query.status == 415)
    }

    @Test(arguments: ["application/json", "application/json; charset=utf-8", "Application/JSON"])
    func jsonContentTypesAreAccepted(contentType: String) throws {
        let login = try HTTPExchange.request(
            "POST", "/api/v1/auth/login", port: port, body: #"{"email":"ann@example.com","password":"password123"}"#, headers: ["Content-Type": contentType])
        #expect(login.status == 200, "\(contentType): \(login.body)")
    }

    @Test func unparseableHTTPStillGetsARequestID() throws {
        let response = try HTTPExchange.raw("GARBAGE\r\n\r\n", port: port)
        #expect(response.status == 400)
        #expect(response.headers["x-request-id"]?.count == 32, "\(response.headers)")
    }

    @Test func addingAUserTwiceExits65() throws {
        let environment = try Appliance.baseEnvironment(databaseURL: appliance.databaseURL)
        let arguments = ["users", "add", "--email", "twice@example.com", "--password-stdin"]
        #expect(try ProcessRunner.scribes(arguments, environment: environment, input: "password123").status == 0)
        let again = try ProcessRunner.scribes(arguments, environment: environment, input: "password123")
        #expect(again.status == 65, "EX_DATAERR: \(again.standardError)")
        #expect(again.standardError.contains("twice@example.com"))
    }
}

/// The bytes of a base64url text without padding.
func base64URLDecoded(_ text: String) -> Data {
    var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
    return Data(base64Encoded: base64) ?? Data()
}
