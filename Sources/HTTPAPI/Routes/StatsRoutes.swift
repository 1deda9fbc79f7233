import FoundationEssentials
import Hummingbird
import Assistant
import Limits

/// GET /api/v1/assistant/stats: the user's counts in each window and
/// today's cost, read without counting as a request, in the guide's shape and
/// key order: `timestamp` is integer Unix seconds, money always has a decimal
/// point (`0.0`, `5.0`). `cost.today` is settled spend; `cost.remaining` is
/// what new requests may still reserve (the limit less spend and reservations
/// in flight).
struct StatsRoutes {
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
            let body = Self.body(userID: userID, timestamp: Int(Date.now.timeIntervalSince1970), usage: usage, budget: userDailyCostUSD)
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
        }
    }

    static func body(userID: Int, timestamp: Int, usage: Usage?, budget: Double) -> String {
        let windows = (usage?.windows ?? []).map { #""\#($0.window.rawValue)":{"current":\#($0.current),"limit":\#($0.limit),"remaining":\#($0.remaining)}"# }
        let budget = MicroUSD(roundingUp: budget)
        let (today, limit, remaining) = usage.map { (MicroUSD($0.spent), MicroUSD($0.budget), MicroUSD($0.remaining)) } ?? (.zero, budget, budget)
        let cost = [("today", today), ("limit", limit), ("remaining", remaining)].map { #""\#($0.0)":\#($0.1.decimal)"# }
        return #"{"status":"success","data":{"user_id":\#(userID),"timestamp":\#(timestamp),"limits":{"#
            + windows.joined(separator: ",") + #"},"cost":{"# + cost.joined(separator: ",") + "}}}"
    }
}
