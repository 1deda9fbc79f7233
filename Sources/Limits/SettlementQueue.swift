import Synchronization

/// Lease releases and settlements on their way to Redis: one queue per
/// worker, delivered in batches by one consumer, one script call at a time
/// (a batch is what queued while the previous call ran), so a Redis stall
/// costs one connection and piles up no task per request. A batch is retried
/// until Redis runs it (settling is idempotent per admission id), taking in
/// what queued meanwhile: when Redis comes back one call releases every lease
/// the stall held. A settlement is dropped once its lease has surely expired,
/// since then the sweep has settled it, charging the reservation (never less
/// than was spent).
final class SettlementQueue: Sendable {
    struct Settlement: Sendable {
        let admissionID: String
        /// Whose books the reservation is on.
        let userID: Int
        /// Micro-USD to charge (-1: the reservation).
        let charge: Int
        let giveUpAt: ContinuousClock.Instant
    }

    /// The most settlements waiting; past it new ones are dropped (their leases expire and the sweep charges their reservations).
    static let capacity = 10_000
    /// The most settlements in one script call.
    static let batchLimit = 500
    static let retryDelay = Duration.milliseconds(50)...Duration.milliseconds(500)

    private let state = Mutex<(pending: [Settlement], stopping: Bool)>(([], false))
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    /// Reports a settlement given up (rate-limited by the caller: an outage gives many).
    private let warn: @Sendable (String) -> Void

    init(warn: @escaping @Sendable (String) -> Void) {
        (wakeups, wake) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
        self.warn = warn
    }

    /// Queues `settlement`; never waits.
    func enqueue(_ settlement: Settlement) {
        let queued = state.withLock { state in
            guard state.pending.count < Self.capacity else { return false }
            state.pending.append(settlement)
            return true
        }
        if queued { wake.yield() } else { warn("settlement queue full (\(Self.capacity)); lease \(settlement.admissionID) will expire instead") }
    }

    /// Delivers what is queued with `send` (true once Redis ran the batch)
    /// until ``finish()`` was called and the queue is empty.
    func run(send: @Sendable ([Settlement]) async -> Bool) async {
        var batch: [Settlement] = []
        var delay = Self.retryDelay.lowerBound
        var wakeup = wakeups.makeAsyncIterator()
        while true {
            let (more, stopping) = take(upTo: Self.batchLimit - batch.count)
            batch += more
            batch.removeAll { settlement in
                guard ContinuousClock.now >= settlement.giveUpAt else { return false }
                warn("Redis did not acknowledge settlement \(settlement.admissionID) before its lease expired")
                return true
            }
            if batch.isEmpty {
                if stopping { return }
                _ = await wakeup.next()
                continue
            }
            if await send(batch) {
                batch = []
                delay = Self.retryDelay.lowerBound
            } else if stopping {
                warn("Redis did not acknowledge \(batch.count) settlement(s) before the worker stopped; their leases will expire instead")
                batch = []
            } else {
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, Self.retryDelay.upperBound)
            }
        }
    }

    /// Stops waiting for settlements; what is queued gets one more attempt, then ``run(send:)`` returns.
    func finish() {
        state.withLock { $0.stopping = true }
        wake.yield()
    }

    private func take(upTo limit: Int) -> ([Settlement], stopping: Bool) {
        state.withLock { state in
            let taken = Array(state.pending.prefix(max(0, limit)))
            state.pending.removeFirst(taken.count)
            return (taken, state.stopping)
        }
    }
}
