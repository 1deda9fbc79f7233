import DequeModule

/// The pool's bookkeeping without connections, threads or clocks (as
/// postgres-nio's pool state machine): which caller gets an idle connection,
/// the right to open one, or a place in line; who is next when one comes
/// back; who is failed by a deadline, a cancellation or a shutdown. Every
/// decision is returned as an action for the pool to carry out outside its
/// lock. Generic so that tests drive it with plain values.
struct LendingStateMachine<Connection, Waiter> {
    /// What `acquire` decided for the caller.
    enum Acquired {
        /// An idle connection, or nil: the right to open one (a slot is counted for it).
        case grant(Connection?)
        /// Queued as `id`: it is served by a `release`, or failed by `fail(waiter:)`.
        case wait(id: Int)
        case shutDown
    }

    /// What `release` decided for a returned connection.
    enum Released {
        /// The connection (nil: its slot, to open a new one) goes to this waiter.
        case handOver(Connection?, to: Waiter)
        /// Kept idle, or closed and its slot freed.
        case done
    }

    let maxConnections: Int
    private(set) var idle: [Connection] = []
    /// Connections open, being opened, or lent out.
    private(set) var openCount = 0
    private var waiters: Deque<(id: Int, waiter: Waiter)> = []
    private var nextID = 0
    private(set) var isShutDown = false

    init(maxConnections: Int) {
        self.maxConnections = maxConnections
    }

    var waiting: Int { waiters.count }

    /// Serves `waiter` at once when a connection or a free slot exists, else queues it.
    mutating func acquire(_ waiter: Waiter) -> Acquired {
        if isShutDown { return .shutDown }
        if let connection = idle.popLast() { return .grant(connection) }
        if openCount < maxConnections {
            openCount += 1
            return .grant(nil)
        }
        nextID += 1
        waiters.append((nextID, waiter))
        return .wait(id: nextID)
    }

    /// A lent connection comes back (nil when it broke or never opened): the
    /// first waiter in line gets it (or its slot); else it is kept idle, or its slot freed.
    mutating func release(_ connection: Connection?) -> Released {
        if let next = waiters.popFirst() { return .handOver(connection, to: next.waiter) }
        if let connection, !isShutDown {
            idle.append(connection)
        } else {
            openCount -= 1
        }
        return .done
    }

    /// Takes waiter `id` out of line (its deadline passed, or it was cancelled); nil when it was served already.
    mutating func fail(waiter id: Int) -> Waiter? {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return nil }
        return waiters.remove(at: index).waiter
    }

    /// Refuses later callers and returns everyone in line, to fail; the idle connections are dropped.
    mutating func shutdown() -> [Waiter] {
        isShutDown = true
        idle = []
        defer { waiters = [] }
        return waiters.map(\.waiter)
    }
}
