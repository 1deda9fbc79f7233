import Logging
import Synchronization

/// `WARNING Rate limit check failed: <reason>` (the guide's troubleshooting
/// grep), at most once per 10 s per worker, with how many were not logged:
/// an outage fails every request, and the log must stay readable.
final class LimiterWarnings: Sendable {
    static let interval = Duration.seconds(10)
    private let state = Mutex<(lastAt: ContinuousClock.Instant?, suppressed: Int)>((nil, 0))
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    func warn(_ reason: String) {
        let suppressed: Int? = state.withLock { state in
            if let last = state.lastAt, ContinuousClock.now - last < Self.interval {
                state.suppressed += 1
                return nil
            }
            defer { state = (.now, 0) }
            return state.suppressed
        }
        if let suppressed {
            logger.warning("Rate limit check failed: \(reason)", metadata: suppressed > 0 ? ["suppressed": "\(suppressed)"] : [:])
        }
    }
}
