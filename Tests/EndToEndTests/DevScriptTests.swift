import Foundation
import Testing
import TestSupport

/// scripts/dev as a newcomer runs it (the built binary and a two-verse
/// library stand in for the build and the KJV): ./.env and the environment
/// are honoured, HF_API_TOKEN selects the HuggingFace provider, scripts/cli
/// works against it, and SIGTERM stops everything it started.
@Suite struct DevScriptTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized.path

    @Test func devHonoursDotEnvAndTheEnvironmentAndTheCLIWorksAgainstIt() throws {
        let directory = try ProcessRunner.emptyDirectory()
        let upstream = try FakeUpstream()
        try "RATE_LIMIT_PER_MINUTE=3\nRATE_LIMIT_PER_HOUR=50\nWORKERS=1\n".write(toFile: directory + "/dotenv", atomically: true, encoding: .utf8)
        let (port, redisPort, postgresPort) = (try freeLoopbackPort(), try freeLoopbackPort(), try freeLoopbackPort())
        let environment: [String: String?] = [
            "SCRIBES_DEV_DIR": directory + "/dev", "SCRIBES_DEV_BINARY": TestEnvironment.binaryPath,
            "SCRIBES_DEV_LIBRARY": try UpstreamTests.library.get(), "SCRIBES_DEV_DOTENV": directory + "/dotenv",
            // The environment wins over .env, as the guide's `export RATE_LIMIT_PER_MINUTE=2` expects.
            "PORT": String(port), "RATE_LIMIT_PER_HOUR": "7",
            "HF_API_TOKEN": "hf-dev-token", "LLM_BASE_URL": upstream.baseURL,
            // Its own services, not the test run's.
            "REDIS_PORT": String(redisPort), "PG_PORT": String(postgresPort), "DATABASE_URL": nil,
        ]
        let dev = try ProcessRunner.spawn("/bin/bash", [Self.root + "/scripts/dev"], environment: environment, logPath: directory + "/log")
        func log() -> String { (try? String(contentsOfFile: directory + "/log", encoding: .utf8)) ?? "" }
        defer { if !hasExited(dev) { kill(dev, SIGTERM) } }
        try waitUntil("scripts/dev serves", timeout: .seconds(60)) {
            #expect(!hasExited(dev), "scripts/dev stopped: \(log())")
            return (try? HTTPExchange.request("GET", "/api/v1/assistant/health", port: port).status) == 200
        }
        #expect(log().contains("with the huggingface LLM"), "\(log())")

        let token = try EndToEndTests.token("test@example.com", "password123", port: port)
        let stats = try HTTPExchange.request("GET", "/api/v1/assistant/stats", port: port, headers: ["Authorization": "Bearer \(token)"]).json
        let limits = (stats["data"] as? [String: Any])?["limits"] as? [String: [String: Any]]
        #expect(limits?["minute"]?["limit"] as? Int == 3, "from .env: \(stats)")
        #expect(limits?["hour"]?["limit"] as? Int == 7, "the environment wins: \(stats)")
        #expect(limits?["day"]?["limit"] as? Int == 500, "the guide's step-3 value: \(stats)")
        let answer = try HTTPExchange.request(
            "POST", "/api/v1/assistant/query", port: port, body: #"{"query":"saved by grace"}"#, headers: ["Authorization": "Bearer \(token)"])
        #expect(answer.status == 200, "\(answer.body)")
        #expect((answer.json["metadata"] as? [String: Any])?["provider"] as? String == "huggingface")
        #expect(upstream.counters.lastAuthorization == "Bearer hf-dev-token")

        let cli = Self.root + "/scripts/cli"
        let added = try ProcessRunner.run(
            cli, ["users", "add", "--email", "new@example.com", "--password-stdin"], environment: environment, input: "new-password")
        #expect(added.status == 0, "\(added.standardError)")
        #expect(try HTTPExchange.request(
            "POST", "/api/v1/auth/login", port: port, body: #"{"email":"new@example.com","password":"new-password"}"#).status == 200)

        kill(dev, SIGTERM)
        try waitUntil("scripts/dev stops", timeout: .seconds(30)) { hasExited(dev) }
        for stopped in [port, redisPort, postgresPort] {
            #expect((try? HTTPExchange.request("GET", "/", port: stopped)) == nil, "port \(stopped) still answers")
        }
    }

    @Test func theCLIWithoutARunningDevSaysWhatToDo() throws {
        let missing = try ProcessRunner.run(Self.root + "/scripts/cli", ["check-config"], environment: ["SCRIBES_DEV_DIR": try ProcessRunner.emptyDirectory()])
        #expect(missing.status == 69)
        #expect(missing.standardError.contains("start scripts/dev first"))
    }
}
