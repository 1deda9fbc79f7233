import ArgumentParser
import Limits
import Logging
import RedisClient
import Settings
import WorkerRuntime

/// `limits show|reset --user ID`: a user's windows in Redis, as the workers see them.
struct LimitsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "limits", abstract: "Show or reset a user's rate-limit windows in Redis.", subcommands: [Show.self, Reset.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the user's requests in each window, today's cost and reservations in flight, and the requests in flight for all users.")
        @OptionGroup var options: ConfigurationOptions
        @Option(help: "The user id.") var user: Int

        func run() async throws {
            try await withLimiter(options) { limiter in
                let usage = try await limiter.usage(userID: user)
                for window in usage.windows {
                    print("\(window.window.rawValue): \(window.current) of \(window.limit) (\(window.remaining) left)")
                }
                print("cost today: \(MicroUSD(usage.spent).fixed) of \(MicroUSD(usage.budget).fixed) USD spent, \(MicroUSD(usage.reserved).fixed) reserved, \(MicroUSD(usage.remaining).fixed) left (resets in \(usage.resetSeconds) s)")
                for reservation in try await limiter.reservations(userID: user) {
                    print("reservation in flight: \(reservation.id) \(MicroUSD(reservation.reserved).fixed) USD")
                }
                print("in flight (all users): \(try await limiter.requestsInFlight()) of \(limiter.policy.globalConcurrent)")
            }
        }
    }

    struct Reset: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Forget the user's requests in every window (the next request starts afresh).")
        @OptionGroup var options: ConfigurationOptions
        @Option(help: "The user id.") var user: Int

        func run() async throws {
            try await withLimiter(options) { limiter in
                let removed = try await limiter.resetWindows(userID: user)
                print("reset user \(user): \(removed) key(s) removed")
            }
        }
    }
}

/// Connects to Redis with the configured settings, runs `body`, and turns a Redis failure into exit 69.
private func withLimiter(_ options: ConfigurationOptions, _ body: (RateLimiter) async throws -> Void) async throws {
    let (settings, _) = try options.load { reader throws(ConfigurationError) in
        (try RedisSettings(reading: reader), try LimitSettings(reading: reader))
    }
    let logger = makeCommandLogger()
    let redis = RedisClient(settings.0, maxConnections: 1, logger: logger)
    defer { redis.shutdown() }
    var policy = RateLimiter.Policy(settings.1)
    policy.timeout = .seconds(2)
    do {
        try await body(RateLimiter(redis: redis, policy: policy, logger: logger))
    } catch let error as RedisError {
        printError("scribes-assistant: \(error)")
        throw ExitCode(69)  // EX_UNAVAILABLE
    }
}
