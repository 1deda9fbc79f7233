import Primitives
import Synchronization

/// Redis's clock as this worker sees it, so that each admission can carry a
/// deadline on that clock: an admission Redis runs after its caller gave up
/// (Redis stalled with the command queued) admits nothing, instead of taking
/// a lease that no request will release.
///
/// The offset kept is an upper bound of (Redis ms − local ms): every reply
/// gives one (Redis ran the script after we sent it), and the smallest is
/// the tightest. It may grow by 1 ms per reply, so a drifting clock is
/// followed; a reply saying "past the deadline" that arrives in time proves
/// the estimate wrong, and ``correct(redisNow:sentAt:)`` resets it.
final class RedisClock: Sendable {
    private let epoch = ContinuousClock.now
    private let offset = Mutex<Int64?>(nil)

    /// Milliseconds on this worker's monotonic clock.
    func localNow() -> Int64 { (ContinuousClock.now - epoch).milliseconds }

    /// The deadline, in Redis ms, of a call sent at `sentAt` that waits `timeout`; 0 (none) before the first reply.
    func deadline(sentAt: Int64, timeout: Duration) -> Int64 {
        offset.withLock { $0 }.map { sentAt + $0 + timeout.milliseconds } ?? 0
    }

    /// A reply to a call sent at `sentAt` saw Redis's clock at `redisNow`.
    func observe(redisNow: Int64, sentAt: Int64) {
        offset.withLock { offset in
            let sample = redisNow - sentAt
            offset = offset.map { min($0 + 1, sample) } ?? sample
        }
    }

    /// Redis refused a call as late that was answered in time: its clock moved; start over from this reply.
    func correct(redisNow: Int64, sentAt: Int64) {
        offset.withLock { $0 = redisNow - sentAt }
    }
}
