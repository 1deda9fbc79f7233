import Logging
import NIOCore
import NIOPosix
import Primitives
import RedisClient
import Synchronization

/// The answer cache shared by every worker and host, in Redis. Admission
/// consults it in its own round trip (``RateLimiter/admit(userID:reserving:cache:alreadyCounted:)``);
/// without limiting, ``consult(userID:request:)`` does the same alone. This
/// type stores answers, fences and renews a leader's lock, wakes the requests
/// waiting for a leader (one subscription per worker), and bumps the data
/// versions that invalidate entries. Thread-safe.
public final class AnswerCache: Sendable {
    /// How a wait for another request's answer ended.
    public enum WaitOutcome: Sendable, Equatable {
        /// The leader's encoded entry.
        case answered(String)
        /// The leader failed and released its lock: consult again (one waiter takes over).
        case failed
        /// No news within the lock's lifetime, or the subscription was re-established: consult again.
        case recheck
    }

    let redis: RedisClient
    let ttl: Duration
    let maxEntryBytes: Int
    let timeout: Duration
    let logger: Logger
    private let waits = CoalescedWaits()
    /// Users (nil: the library) whose version bump failed; retried by ``run()``.
    private let unbumped = Mutex<Set<Int?>>([])

    public init(redis: RedisClient, ttl: Duration, maxEntryBytes: Int, timeout: Duration, logger: Logger) {
        self.redis = redis
        self.ttl = ttl
        self.maxEntryBytes = maxEntryBytes
        self.timeout = timeout
        self.logger = logger
    }

    /// The cache alone (limiting off): a hit, a lead (the lock taken with `token`), a wait or a refresh;
    /// `.bypass` when Redis does not answer.
    public func consult(userID: Int, request: CacheRequest, token: String) async -> CacheState {
        let consultation = CacheConsultation(userID: userID, request: request)
        guard let finding = try? await redis.run(LookupCall(consultation: consultation, token: token), timeout: timeout) else { return .bypass }
        return finding.state(digest: consultation.digest, token: token)
    }

    /// Stores `entry` (unless larger than CACHE_MAX_ENTRY_BYTES), releases
    /// the slot's lock and hands the entry to every waiter. Whether it was stored.
    @discardableResult
    public func store(_ entry: String, in slot: CacheSlot) async -> Bool {
        let keeps = entry.utf8.count <= maxEntryBytes
        let call = StoreCall(slot: slot, value: slot.versions + "\n" + entry, ttl: keeps ? ttl : .zero)
        guard (try? await redis.run(call, timeout: timeout)) != nil else {
            await abandon(slot)
            return false
        }
        return keeps
    }

    /// Releases the slot's lock after a failure: nothing is stored, and the waiters consult again.
    public func abandon(_ slot: CacheSlot) async {
        guard let token = slot.token else { return }
        _ = try? await redis.run(AbandonCall(digest: slot.digest, token: token), timeout: timeout)
    }

    /// Renews the slot's lock every third of its lifetime until cancelled.
    public func keepLocked(_ slot: CacheSlot) async {
        guard let token = slot.token else { return }
        while !Task.isCancelled {
            try? await Task.sleep(for: CacheKeys.lockDuration / 3)
            guard !Task.isCancelled else { return }
            _ = try? await redis.run(RenewLockCall(digest: slot.digest, token: token), timeout: CacheKeys.lockDuration / 3)
        }
    }

    /// Waits for the leader of `slot` to publish, at most `limit` and never
    /// longer than the lock lives; every request of this worker waiting on the
    /// same entry is woken by the same message. The leader may publish
    /// before this request has begun to wait (its admission's reply and the
    /// message travel on different connections): a message that arrived
    /// after `since`, when the consultation that said "wait" was sent, ends
    /// the wait at once. An answer built on other data versions than the
    /// slot's (notes changed while the leader computed) is not taken: consult again.
    public func waitForAnswer(_ slot: CacheSlot, since: ContinuousClock.Instant, limit: Duration) async -> WaitOutcome {
        let outcome = await waits.wait(slot.digest, since: since, timeout: min(limit, CacheKeys.lockDuration))
        guard case .answered(let value) = outcome else { return outcome }
        let header = slot.versions + "\n"
        guard value.hasPrefix(header) else { return .recheck }
        return .answered(String(value.dropFirst(header.count)))
    }

    /// After a change to the user's notes is committed: their cached answers are no longer served.
    public func invalidateNotes(userID: Int) async {
        await bump(userID)
    }

    /// A bump that fails (Redis unreachable) is retried by ``run()`` every second until it lands.
    private func bump(_ userID: Int?) async {
        guard (try? await bumpNow(userID)) == nil else { return }
        unbumped.withLock { _ = $0.insert(userID) }
        logger.error("Could not invalidate cached answers (Redis unreachable): retrying every second", metadata: ["user": "\(userID.map(String.init) ?? "all")"])
    }

    func bumpNow(_ userID: Int?) async throws(RedisError) {
        try await Self.invalidate(userID, redis: redis, timeout: timeout)
    }

    /// Bumps `userID`'s notes version, or the library's (nil): for commands that import data. Throws what Redis threw.
    public static func invalidate(_ userID: Int?, redis: RedisClient, timeout: Duration) async throws(RedisError) {
        try await redis.run(BumpCall(versionKey: versionKey(userID)), timeout: timeout)
    }

    static func versionKey(_ userID: Int?) -> String {
        userID.map(CacheKeys.notesVersion) ?? CacheKeys.libraryVersion
    }

    /// Until cancelled: delivers the leaders' messages to waiters, and retries failed version bumps.
    public func run(subscriber: RedisSubscriber) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await subscriber.run(onSubscribed: { self.waits.wakeAll(.recheck) }, onMessage: { self.deliver($0) })
            }
            group.addTask { await self.retryBumps() }
            await group.waitForAll()
        }
    }

    func deliver(_ payload: [UInt8]) {
        guard let newline = payload.firstIndex(of: UInt8(ascii: "\n")) else { return }
        let digest = String(decoding: payload[..<newline], as: UTF8.self)
        let entry = String(decoding: payload[(newline + 1)...], as: UTF8.self)
        waits.wake(digest, entry.isEmpty ? .failed : .answered(entry))
    }

    private func retryBumps() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            for userID in unbumped.withLock({ $0 }) {
                guard (try? await bumpNow(userID)) != nil else { break }
                unbumped.withLock { _ = $0.remove(userID) }
                logger.info("Invalidated cached answers after Redis came back", metadata: ["user": "\(userID.map(String.init) ?? "all")"])
            }
        }
    }
}

/// The requests of one worker waiting for leaders, by entry digest, and the
/// leaders' messages of the last lock lifetime: a request that begins to wait
/// after its leader's message arrived still gets it.
final class CoalescedWaits: Sendable {
    private struct Waiter {
        let continuation: CheckedContinuation<AnswerCache.WaitOutcome, Never>
        let timer: Scheduled<Void>
    }

    private struct Message {
        let digest: String
        let outcome: AnswerCache.WaitOutcome
        let arrived: ContinuousClock.Instant
    }

    private struct State {
        var waiters: [String: [Int: Waiter]] = [:]
        /// The messages of the last lock lifetime, oldest first, at most ``kept``.
        var recent: [Message] = []

        mutating func remember(_ message: Message) {
            recent.append(message)
            let stale = recent.prefix { $0.arrived < message.arrived - CacheKeys.lockDuration }.count
            recent.removeFirst(max(stale, recent.count - CoalescedWaits.kept))
        }

        /// The newest message for `digest` that arrived at `since` or later.
        func message(for digest: String, since: ContinuousClock.Instant) -> AnswerCache.WaitOutcome? {
            recent.last { $0.digest == digest && $0.arrived >= since }?.outcome
        }
    }

    /// Messages remembered at most (answers of a few kB each).
    static let kept = 256

    private let state = Mutex(State())
    private let nextID = Atomic<Int>(0)

    func wait(_ digest: String, since: ContinuousClock.Instant, timeout: Duration) async -> AnswerCache.WaitOutcome {
        let id = nextID.add(1, ordering: .relaxed).newValue
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let timer = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: .nanoseconds(timeout.nanoseconds)) {
                    self.resume(digest, id, .recheck)
                }
                let waiter = Waiter(continuation: continuation, timer: timer)
                // Under the lock that registers: a message is either seen here or wakes this waiter.
                let arrived = state.withLock { state -> AnswerCache.WaitOutcome? in
                    if let outcome = state.message(for: digest, since: since) { return outcome }
                    state.waiters[digest, default: [:]][id] = waiter
                    return nil
                }
                if let arrived {
                    finish(waiter, arrived)
                } else if Task.isCancelled {
                    resume(digest, id, .recheck)
                }
            }
        } onCancel: {
            resume(digest, id, .recheck)
        }
    }

    func wake(_ digest: String, _ outcome: AnswerCache.WaitOutcome) {
        let woken = state.withLock { state in
            state.remember(Message(digest: digest, outcome: outcome, arrived: .now))
            return state.waiters.removeValue(forKey: digest) ?? [:]
        }
        for waiter in woken.values { finish(waiter, outcome) }
    }

    func wakeAll(_ outcome: AnswerCache.WaitOutcome) {
        let woken = state.withLock { state in
            defer { state.waiters = [:] }
            return state.waiters.values.flatMap(\.values)
        }
        for waiter in woken { finish(waiter, outcome) }
    }

    private func resume(_ digest: String, _ id: Int, _ outcome: AnswerCache.WaitOutcome) {
        let waiter = state.withLock { state -> Waiter? in
            let waiter = state.waiters[digest]?.removeValue(forKey: id)
            if state.waiters[digest]?.isEmpty == true { state.waiters[digest] = nil }
            return waiter
        }
        if let waiter { finish(waiter, outcome) }
    }

    private func finish(_ waiter: Waiter, _ outcome: AnswerCache.WaitOutcome) {
        waiter.timer.cancel()
        waiter.continuation.resume(returning: outcome)
    }
}
