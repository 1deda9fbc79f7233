public enum Window: String, Sendable, CaseIterable {
    case minute, hour, day

    public var seconds: Int {
        switch self {
        case .minute: 60
        case .hour: 3600
        case .day: 86400
        }
    }

    /// Every window's length in ms, in order: what the limiter's scripts and the in-memory limiter count over.
    static let milliseconds = allCases.map { $0.seconds * 1000 }

    /// The same as a Lua table literal, for the scripts.
    static let luaMilliseconds = "{" + milliseconds.map(String.init).joined(separator: ", ") + "}"
}

public struct WindowUsage: Sendable, Equatable {
    public let window: Window
    /// Requests counted in the window (after this one, at admission).
    public let current: Int
    public let limit: Int
    /// Seconds until the oldest counted request leaves the window.
    public let resetSeconds: Int

    public var remaining: Int { max(0, limit - current) }

    public init(window: Window, current: Int, limit: Int, resetSeconds: Int) {
        self.window = window
        self.current = current
        self.limit = limit
        self.resetSeconds = resetSeconds
    }
}

/// A user's windows and today's budget (micro-USD), as `stats` shows them.
public struct Usage: Sendable, Equatable {
    public let windows: [WindowUsage]
    /// Settled spend today (UTC, Redis time).
    public let spent: Int
    /// Held by requests in flight.
    public let reserved: Int
    public let budget: Int
    /// Seconds to 00:00 UTC, when the budget starts afresh.
    public let resetSeconds: Int

    /// What a new request may still reserve.
    public var remaining: Int { max(0, budget - spent - reserved) }
}
