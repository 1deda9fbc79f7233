import ArgumentParser
import Limits
import Logging
import Primitives
import RedisClient

/// The limiter micro-benchmark: admissions and settlements straight against a
/// Redis, no HTTP and no database, so the round trip is measured without the
/// query route's CPU. Writes the limiter's real keys: point it at a Redis of
/// its own (scripts/bench does).
@main
struct LimiterBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "limiter-bench", abstract: "Time RateLimiter.admit against a Redis.")

    @Option(help: "Redis port on 127.0.0.1.") var redisPort: Int
    @Option(help: "Admissions to time.") var requests = 20_000
    @Option(help: "Admissions in flight at once.") var concurrency = 8
    @Option(help: "Distinct users (ids 1_000_001...).") var users = 1000
    @Option(help: "Connections in the Redis pool (REDIS_MAX_CONNECTIONS).") var connections = 10
    @Flag(help: "Guide limits (10/100/500, exact logs) instead of the bench profile (10⁹, bucketed).") var guideLimits = false

    func run() async throws {
        let redis = RedisClient(
            configuration: .init(host: "127.0.0.1", port: redisPort, password: nil, database: 0, maxConnections: connections),
            logger: Logger(label: "limiter-bench"))
        defer { redis.shutdown() }
        let windows = guideLimits ? [10, 100, 500] : [1_000_000_000, 1_000_000_000, 1_000_000_000]
        let limiter = RateLimiter(
            redis: redis,
            policy: .init(
                perMinute: windows[0], perHour: windows[1], perDay: windows[2], globalHourly: 1_000_000_000, globalConcurrent: 1_000_000,
                lease: .seconds(30), timeout: .seconds(1), failClosed: true,
                userDailyBudget: 1_000_000_000_000, globalDailyBudget: 1_000_000_000_000, failOpenBudget: 0),
            logger: Logger(label: "limiter-bench"))
        let background = Task { await limiter.run() }  // delivers the settlements
        _ = await limiter.admit(userID: 1_000_000, reserving: .zero)  // loads the scripts, opens a connection
        let start = ContinuousClock.now
        let results = await withTaskGroup(of: [Double].self) { group in
            for task in 0..<concurrency {
                group.addTask { await timeAdmissions(limiter, count: requests / concurrency, seed: task) }
            }
            return await group.reduce(into: []) { $0 += $1 }
        }
        let seconds = milliseconds(ContinuousClock.now - start) / 1000
        limiter.stop()
        await background.value
        let latencies: [Double] = results.map { abs($0) }.sorted()
        let refused = results.filter { $0 < 0 }.count
        func quantile(_ q: Double) -> String {
            let index = min(latencies.count - 1, Int(Double(latencies.count) * q))
            let microseconds = Int((latencies[index] * 1000).rounded())
            let fraction = String(microseconds % 1000)
            return "\(microseconds / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
        }
        let rate = Int(Double(latencies.count) / seconds)
        print("limiter-bench: \(latencies.count) admissions, concurrency \(concurrency), \(guideLimits ? "guide" : "bench") limits, \(rate) admissions/s")
        print("limiter-bench: admit p50 \(quantile(0.5)) ms, p90 \(quantile(0.9)) ms, p99 \(quantile(0.99)) ms, max \(quantile(1)) ms, \(refused) refused")
    }

    /// Admits and settles `count` times in a row, a user picked in turn each
    /// time; the admit latencies in ms, negative for a refusal.
    private func timeAdmissions(_ limiter: RateLimiter, count: Int, seed: Int) async -> [Double] {
        var latencies: [Double] = []
        latencies.reserveCapacity(count)
        for index in 0..<count {
            let begin = ContinuousClock.now
            let decision = await limiter.admit(userID: 1_000_001 + (index * concurrency + seed) % users, reserving: MicroUSD(1000))
            let elapsed = milliseconds(ContinuousClock.now - begin)
            switch decision {
            case .success(let admission):
                latencies.append(elapsed)
                limiter.settle(admission, charge: .cost(MicroUSD(500)))
            case .failure:
                latencies.append(-elapsed)
            }
        }
        return latencies
    }

    private func milliseconds(_ duration: Duration) -> Double { duration.seconds * 1000 }
}
