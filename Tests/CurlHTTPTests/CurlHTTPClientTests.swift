import CurlHTTP
import Foundation
import Testing
import TestSupport

/// libcurl through the client, against a local HTTP server speaking the chat-completions protocol.
@Suite struct CurlHTTPClientTests {
    let client = CurlHTTPClient()
    let upstream: FakeUpstream

    init() throws {
        upstream = try FakeUpstream()
    }

    func request(timeout: Duration = .seconds(5), maxResponseBytes: Int = 4 << 20, url: String? = nil) -> CurlHTTPClient.Request {
        CurlHTTPClient.Request(
            url: url ?? upstream.baseURL + "/chat/completions",
            headers: [("Content-Type", "application/json"), ("Authorization", "Bearer unit-test")],
            body: Array(#"{"model":"fake","messages":[{"role":"user","content":"grace"}]}"#.utf8),
            totalTimeout: timeout, maxResponseBytes: maxResponseBytes, responseHeaders: ["Content-Type", "Retry-After"])
    }

    @Test func postsTheBodyAndHeadersAndReturnsStatusBodyAndTheHeadersAskedFor() async throws {
        let response = try await client.execute(request())
        #expect(response.status == 200)
        #expect(String(decoding: response.body, as: UTF8.self).contains("Grace is God's unmerited favour"))
        #expect(response.headers["Content-Type"]?.hasPrefix("application/json") == true)
        #expect(response.headers["Retry-After"] == nil)
        #expect(upstream.counters.lastAuthorization == "Bearer unit-test")
        #expect(upstream.counters.lastBody.contains(#""content":"grace""#))
    }

    @Test func anErrorStatusIsAResponseNotAnError() async throws {
        var behavior = upstream.behavior
        behavior.mode = .status(503)
        upstream.behavior = behavior
        #expect(try await client.execute(request()).status == 503)
    }

    @Test func aSlowAnswerTimesOutAtTheTotalTimeout() async {
        var behavior = upstream.behavior
        behavior.latency = .seconds(3)
        upstream.behavior = behavior
        let start = ContinuousClock.now
        await #expect(throws: CurlHTTPError.timedOut) { try await client.execute(request(timeout: .milliseconds(300))) }
        #expect(ContinuousClock.now - start < .seconds(2))
    }

    @Test func aClosedPortIsAConnectionFailure() async throws {
        let port = try freeLoopbackPort()
        await #expect {
            try await client.execute(request(url: "http://127.0.0.1:\(port)/v1/chat/completions"))
        } throws: { error in
            if case CurlHTTPError.connectionFailed = error { true } else { false }
        }
    }

    @Test func aBodyLargerThanTheLimitIsRefused() async {
        await #expect(throws: CurlHTTPError.responseTooLarge) { try await client.execute(request(maxResponseBytes: 16)) }
    }

    @Test func cancellingTheCallingTaskAbortsTheTransfer() async throws {
        var behavior = upstream.behavior
        behavior.latency = .seconds(5)
        upstream.behavior = behavior
        let call = Task { [client, request = request()] in try await client.execute(request) }
        try waitUntil("the upstream has the request", timeout: .seconds(2)) { upstream.counters.inFlight == 1 }
        call.cancel()
        await #expect(throws: CancellationError.self) { try await call.value }
        try waitUntil("the upstream sees the connection closed", timeout: .seconds(2)) { upstream.counters.abandoned == 1 }
    }
}
