import Auth
import Hummingbird
import PostgresClient
import Store
import Synchronization

/// Requires `Authorization: Bearer <token>` naming an existing user and puts
/// that user in the context.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let tokens: AccessTokens
    let users: KnownUsers

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization] else {
            throw AuthError(code: .invalidToken, message: "Not authenticated")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw AuthError(code: .invalidToken, message: "Authorization must be 'Bearer <token>'")
        }
        let userID = try await tokens.verify(String(parts[1]))
        // A validly signed token may still name no user (deleted, or never created).
        guard try await users.contains(userID) else {
            throw AuthError(code: .invalidToken, message: "Invalid authentication token")
        }
        var context = context
        context.userID = userID
        context.access.record(userID: userID)
        return try await next(request, context)
    }
}

/// The user ids that the database confirmed, remembered for the worker's
/// life (the appliance never deletes a user): one primary-key lookup per
/// user and worker. Cleared whole when full.
final class KnownUsers: Sendable {
    private let store: UserStore
    private let known = Mutex<Set<Int>>([])
    static let limit = 100_000

    init(store: UserStore) {
        self.store = store
    }

    /// While the database cannot be reached, a validly signed token is
    /// trusted (and asked about again later): a cached answer or the stats
    /// need no database, and stay available through an outage.
    func contains(_ id: Int) async throws -> Bool {
        if known.withLock({ $0.contains(id) }) { return true }
        let exists: Bool
        do {
            exists = try await store.exists(id: id)
        } catch let error as PostgresError where error.isUnavailable {
            return true
        }
        guard exists else { return false }
        known.withLock { known in
            if known.count >= Self.limit { known.removeAll(keepingCapacity: true) }
            known.insert(id)
        }
        return true
    }
}
