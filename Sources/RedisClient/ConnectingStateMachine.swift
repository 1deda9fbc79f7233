/// What the pool needs to know of a connection to choose one.
protocol PooledConnection {
    /// Commands sent and not yet answered (connections are shared: each pipelines many callers).
    var load: Int { get }
    var isActive: Bool { get }
    /// Owed a reply past its deadline.
    var isStalled: Bool { get }
}

extension RedisConnection: PooledConnection {}

/// The Redis pool's bookkeeping without sockets or clocks: which connection a
/// call uses, when another is opened (bounded, with backoff after a failed
/// attempt), who waits for the attempt in flight, and what an attempt's end
/// means. Every decision is returned for the pool to carry out outside its
/// lock; `now` is passed in, so tests choose the time.
struct ConnectingStateMachine<Connection: PooledConnection, Waiter> {
    enum Choice {
        case use(Connection)
        /// Use it, and open another: it is busy and there is room.
        case useAndOpen(Connection)
        case open
        /// An attempt is in flight: wait for it (``wait(_:)``).
        case wait
        case fail(RedisError)
    }

    /// What ``wait(_:)`` decided.
    enum Waiting {
        /// The attempt ended before the caller could be queued.
        case settled(Result<Connection, RedisError>)
        case queued(id: Int)
    }

    /// What an attempt's end means for the pool.
    struct Finished {
        let waiters: [Waiter]
        /// The first failure after a success is logged, and the first success after a failure (or the very first).
        let wasFailing: Bool
        let firstConnection: Bool
        /// It opened after shutdown: close it.
        let closeAgain: Bool
    }

    let maxConnections: Int
    let backoff: ClosedRange<Duration>
    private(set) var connections: [Connection] = []
    private var connecting = 0
    private var waiters: [(id: Int, waiter: Waiter)] = []
    private var nextID = 0
    private var retryAt: ContinuousClock.Instant?
    private var delay: Duration = .zero
    private var lastError: RedisError?
    private var connectedOnce = false
    private(set) var isShutDown = false

    init(maxConnections: Int, backoff: ClosedRange<Duration>) {
        self.maxConnections = maxConnections
        self.backoff = backoff
    }

    var waiting: Int { waiters.count }
    var open: [Connection] { connections.filter(\.isActive) }

    static var shutDown: RedisError { RedisError(code: .shutDown, message: "the Redis client was shut down") }

    private var unreachable: RedisError { lastError ?? RedisError(code: .connectionFailed, message: "Redis is unreachable") }

    /// The least loaded open connection; another is opened when that one is
    /// busy and there is room (not before the backoff after a failed attempt).
    /// With `failFast`, one connection owed an overdue reply fails the call:
    /// Redis runs one command at a time, so all of them wait.
    mutating func choose(failFast: Bool, now: ContinuousClock.Instant) -> Choice {
        if isShutDown { return .fail(Self.shutDown) }
        connections.removeAll { !$0.isActive }
        if failFast, connections.contains(where: \.isStalled) {
            return .fail(RedisError(code: .timeout, message: "Redis has not answered an earlier command within its deadline"))
        }
        let hasRoom = connections.count + connecting < maxConnections
        let mayConnect = hasRoom && (retryAt.map { now >= $0 } ?? true)
        if let best = connections.min(by: { $0.load < $1.load }) {
            guard best.load > 0, mayConnect else { return .use(best) }
            connecting += 1
            return .useAndOpen(best)
        }
        if connecting > 0 { return .wait }
        if mayConnect {
            connecting += 1
            return .open
        }
        return .fail(unreachable)
    }

    /// Queues `waiter` for the attempt in flight, unless it has already ended.
    mutating func wait(_ waiter: Waiter) -> Waiting {
        if let connection = open.first { return .settled(.success(connection)) }
        if connecting == 0 { return .settled(.failure(unreachable)) }
        nextID += 1
        waiters.append((nextID, waiter))
        return .queued(id: nextID)
    }

    /// Takes waiter `id` out of line (its deadline passed); nil when it was served already.
    mutating func fail(waiter id: Int) -> Waiter? {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return nil }
        return waiters.remove(at: index).waiter
    }

    /// An attempt ended: a connection joins the pool (and the backoff resets),
    /// or the next attempt waits twice as long as the last, within `backoff`.
    /// Either way every waiter gets the outcome.
    mutating func finishConnecting(_ result: Result<Connection, RedisError>, now: ContinuousClock.Instant) -> Finished {
        connecting -= 1
        let (wasFailing, firstConnection) = (lastError != nil, !connectedOnce)
        switch result {
        case .success(let connection):
            if isShutDown { return Finished(waiters: [], wasFailing: false, firstConnection: false, closeAgain: true) }
            connectedOnce = true
            connections.append(connection)
            retryAt = nil
            delay = .zero
            lastError = nil
        case .failure(let error):
            delay = delay == .zero ? backoff.lowerBound : min(delay * 2, backoff.upperBound)
            retryAt = now + delay
            lastError = error
        }
        defer { waiters = [] }
        return Finished(waiters: waiters.map(\.waiter), wasFailing: wasFailing, firstConnection: firstConnection, closeAgain: false)
    }

    /// Refuses later calls; returns the connections to close and the waiters to fail.
    mutating func shutdown() -> (connections: [Connection], waiters: [Waiter]) {
        isShutDown = true
        defer { connections = []; waiters = [] }
        return (connections, waiters.map(\.waiter))
    }
}
