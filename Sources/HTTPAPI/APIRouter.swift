import Assistant
import Auth
import Hummingbird
import PostgresClient
import RedisClient
import Store

/// What the routes need, built once per worker.
public struct APIServices: Sendable {
    public var users: UserStore
    public var notes: NoteStore
    public var assistant: AssistantService
    public var tokens: AccessTokens
    public var loginThrottle: LoginThrottle
    public var redis: RedisClient
    public var database: PostgresConnectionPool
    public var queryMaxCharacters: Int
    public var drain: DrainState

    public init(
        users: UserStore, notes: NoteStore, assistant: AssistantService, tokens: AccessTokens,
        loginThrottle: LoginThrottle, redis: RedisClient, database: PostgresConnectionPool, queryMaxCharacters: Int,
        drain: DrainState = DrainState()
    ) {
        self.drain = drain
        self.users = users
        self.notes = notes
        self.assistant = assistant
        self.tokens = tokens
        self.loginThrottle = loginThrottle
        self.redis = redis
        self.database = database
        self.queryMaxCharacters = queryMaxCharacters
    }
}

/// The appliance's HTTP API: every route, behind request ids and one error format.
public func makeRouter(_ services: APIServices) -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self)
    router.add(middleware: RequestIDMiddleware())
    router.add(middleware: ErrorMiddleware())
    AuthRoutes(users: services.users, tokens: services.tokens, throttle: services.loginThrottle).add(to: router)
    HealthRoutes(redis: services.redis, database: services.database, drain: services.drain, deadline: .milliseconds(500)).add(to: router)
    let authenticated = router.group().add(middleware: AuthenticationMiddleware(tokens: services.tokens))
    NoteRoutes(notes: services.notes).add(to: authenticated)
    QueryRoutes(assistant: services.assistant, queryMaxCharacters: services.queryMaxCharacters).add(to: authenticated)
    return router
}
