/// Why a request is refused, and for how long.
public struct Rejection: Error, Sendable, Equatable {
    public enum Reason: Sendable, Equatable {
        case user(Window)
        case globalHourly
        case concurrency
        /// The user's daily cost budget (`limit` in micro-USD).
        case userBudget
        /// Everybody's daily cost budget (`limit` in micro-USD).
        case globalBudget
        /// Redis is away and this worker spent FAILOPEN_COST_USD_PER_WORKER (`limit` in micro-USD).
        case failOpenBudget
        /// Redis is away and RATE_LIMIT_FAIL_MODE=closed.
        case unavailable

        /// The admission script's code for the limit that tripped.
        init?(scriptCode: Int) {
            switch scriptCode {
            case 1...3: self = .user(Window.allCases[scriptCode - 1])
            case 4: self = .globalHourly
            case 5: self = .concurrency
            case 6: self = .userBudget
            case 7: self = .globalBudget
            default: return nil
            }
        }
    }

    public let reason: Reason
    public let limit: Int
    public let retryAfterSeconds: Int

    static func seconds(milliseconds: Int) -> Int { max(1, (milliseconds + 999) / 1000) }
}
