import FoundationEssentials
import Hummingbird
import Limits

/// GET /api/v1/assistant/stats: the user's counts in each window and
/// today's cost, read without counting as a request, in the guide's shape.
/// `cost.today` is settled spend; `cost.remaining` is what new requests may
/// still reserve (the limit less spend and reservations in flight).
struct StatsRoutes {
    struct WindowBody: Encodable {
        let current: Int
        let limit: Int
        let remaining: Int
    }

    struct CostBody: Encodable {
        let today: Double
        let limit: Double
        let remaining: Double
    }

    struct StatsData: Encodable {
        let user_id: Int
        let timestamp: String
        let limits: [String: WindowBody]
        let cost: CostBody
    }

    struct StatsBody: Encodable {
        let status = "success"
        let data: StatsData
    }

    let limiter: RateLimiter?
    let userDailyCostUSD: Double

    func add(to router: some RouterMethods<AppRequestContext>) {
        router.get("/api/v1/assistant/stats") { _, context in
            let userID = try context.requireUserID()
            let usage: Usage?
            do {
                usage = try await limiter?.usage(userID: userID)
            } catch {
                throw APIError(.serviceUnavailable, "Usage is unavailable while Redis is unreachable")
            }
            let windows = usage?.windows ?? []
            let limits = Dictionary(uniqueKeysWithValues: windows.map { ($0.window.rawValue, WindowBody(current: $0.current, limit: $0.limit, remaining: $0.remaining)) })
            let cost = usage.map { CostBody(today: Charge.usd($0.spent), limit: Charge.usd($0.budget), remaining: Charge.usd($0.remaining)) }
            let data = StatsData(
                user_id: userID, timestamp: Date.now.formatted(.iso8601), limits: limits,
                cost: cost ?? CostBody(today: 0, limit: userDailyCostUSD, remaining: userDailyCostUSD))
            return try jsonResponse(StatsBody(data: data))
        }
    }
}
