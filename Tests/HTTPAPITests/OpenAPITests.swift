import Assistant
import Auth
import Foundation
import HTTPAPI
import Hummingbird
import LLM
import Logging
import NIOPosix
import PostgresClient
import RedisClient
import Store
import Testing

/// docs/openapi.yaml describes exactly the routes the router serves.
@Suite struct OpenAPITests {
    /// "METHOD /path" for every operation of the spec (Hummingbird prints parameters as `{id}` too).
    static func documentedRoutes() throws -> Set<String> {
        let spec = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/openapi.yaml")
        var routes = Set<String>()
        var path: String?
        for line in try String(contentsOf: spec, encoding: .utf8).split(separator: "\n") {
            if line.hasPrefix("  /"), line.hasSuffix(":") {
                path = String(line.dropFirst(2).dropLast())
            } else if let path, let method = ["get", "post", "put", "delete", "patch"].first(where: { line == "    \($0):" }) {
                routes.insert("\(method.uppercased()) \(path)")
            } else if !line.hasPrefix(" ") {
                path = nil
            }
        }
        return routes
    }

    /// The router with services that are never called (nothing connects until a request).
    static func router() async -> Router<AppRequestContext> {
        let logger = Logger(label: "test")
        let database = PostgresConnectionPool(
            configuration: .init(url: "postgresql://nowhere.invalid/db", maxConnections: 1),
            threadPool: .singleton, eventLoop: MultiThreadedEventLoopGroup.singleton.any(), logger: logger)
        let redis = RedisClient(configuration: .init(host: "nowhere.invalid", port: 6379), logger: logger)
        return makeRouter(APIServices(
            users: UserStore(pool: database, threadPool: .singleton),
            notes: NoteStore(pool: database),
            assistant: AssistantService(search: PassageSearch(pool: database), provider: LocalProvider(), topK: 5, contextMaxTokens: 1500, maxTokens: 512),
            tokens: await AccessTokens(secret: String(repeating: "s", count: 32), lifetimeSeconds: 3600),
            loginThrottle: LoginThrottle(redis: redis, timeout: .milliseconds(50), logger: logger),
            redis: redis, database: database, queryMaxCharacters: 2000))
    }

    @Test func specListsExactlyTheServedRoutes() async throws {
        let served = Set(await Self.router().routes.map { "\($0.method) \($0.path)" })
        let documented = try Self.documentedRoutes()
        #expect(!documented.isEmpty)
        #expect(served.subtracting(documented).isEmpty, "served but not documented: \(served.subtracting(documented).sorted())")
        #expect(documented.subtracting(served).isEmpty, "documented but not served: \(documented.subtracting(served).sorted())")
    }
}
