import Logging
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// How many connections a worker holds open at once: as many as its
/// descriptor limit (RLIMIT_NOFILE, systemd's LimitNOFILE=) leaves room for
/// once its own descriptors and a reserve are counted. At the limit the
/// worker stops accepting (``ConnectionGate``) and the kernel queues new
/// connections until some close, so its descriptor table never fills.
///
/// A full table is not survivable: libdispatch, which runs Swift's
/// concurrency pool on Linux, reads `/proc/<thread>/stat` every second while
/// work is queued and traps when that `open` fails (seen in ChaosTests: a
/// worker gone with its requests in flight). Pools, the upstream client and
/// the trace exporter would fail their connects too.
///
/// Hummingbird's `AvailableConnectionsChannelHandler` does the same with a
/// fixed maximum counted per listener. Not enough here: a worker's listeners
/// (its slot's and those of the slots it covers) share one descriptor
/// table, so the count is one across them (``ConnectionGate`` on each), and
/// the maximum follows the descriptor limit.
public final class ConnectionLimit: Sendable {
    /// Descriptors one connection may need: its socket, the upstream call's,
    /// and libcurl's resolver socket pair while it looks the host up.
    public static let descriptorsPerConnection = 4

    /// Descriptors open before the first connection (listeners, event loops,
    /// the pools' first connections, the log, libdispatch's).
    let baseline: Int
    /// Descriptors kept free besides: what the pools may still open, and a margin.
    let reserve: Int
    private let limit: @Sendable () -> Int
    private let logger: Logger
    private let state = Mutex(State())

    private struct State {
        var open = 0
        /// Listeners that stopped accepting, each resumed once there is room.
        var waiting: [@Sendable () -> Void] = []
        var warnedAt: ContinuousClock.Instant?
    }

    /// The warning that the limit was reached comes at most this often (under load it is reached at every accept).
    static let warningInterval = Duration.seconds(60)

    /// - Parameters:
    ///   - reserve: descriptors the worker may open later besides connections
    ///     (pool growth, cached upstream connections) plus a margin.
    ///   - baseline: descriptors open now; by default counted in `/proc/self/fd`.
    ///   - limit: the descriptor limit, read at each decision (`prlimit` may change it).
    public init(
        reserve: Int, baseline: Int = ConnectionLimit.openDescriptors(), limit: @escaping @Sendable () -> Int = ConnectionLimit.descriptorLimit,
        logger: Logger
    ) {
        self.reserve = reserve
        self.baseline = baseline
        self.limit = limit
        self.logger = logger
    }

    /// The most connections open at once under the current limit (one at least: a worker that accepts nothing would hang its queue).
    public var capacity: Int { max(1, (limit() - baseline - reserve) / Self.descriptorsPerConnection) }

    /// Connections open now.
    var openConnections: Int { state.withLock { $0.open } }

    /// What the startup log says: the limit and where it comes from.
    public var summary: String {
        "at most \(capacity) connections open at once (descriptor limit \(limit()), \(baseline) open at start, "
            + "\(reserve) in reserve, \(Self.descriptorsPerConnection) per connection)"
    }

    /// Whether another connection may be accepted; if not, `resume` runs once one closes.
    func hasRoom(orElse resume: @escaping @Sendable () -> Void) -> Bool {
        let capacity = capacity
        let (room, warn) = state.withLock { state in
            if state.open < capacity { return (true, false) }
            state.waiting.append(resume)
            if let last = state.warnedAt, ContinuousClock.now - last < Self.warningInterval { return (false, false) }
            state.warnedAt = .now
            return (false, true)
        }
        if warn {
            logger.warning(
                "Connection limit reached: new connections wait in the kernel's queue until some close; raise LimitNOFILE to hold more",
                metadata: ["connections": "\(capacity)", "descriptor_limit": "\(limit())"])
        }
        return room
    }

    func opened() {
        state.withLock { $0.open += 1 }
    }

    func closed() {
        let resumed: [@Sendable () -> Void] = state.withLock { state in
            state.open -= 1
            // The limit is read (a system call) only when a listener waits for room.
            guard !state.waiting.isEmpty, state.open < capacity else { return [] }
            defer { state.waiting = [] }
            return state.waiting
        }
        resumed.forEach { $0() }
    }

    /// The soft RLIMIT_NOFILE (a very large limit counts as Int.max).
    @Sendable public static func descriptorLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return Int.max }
        return limit.rlim_cur >= rlim_t(Int.max) ? Int.max : Int(limit.rlim_cur)
    }

    /// The descriptors this process has open (the entries of `/proc/self/fd`, less the one reading it).
    public static func openDescriptors() -> Int {
        guard let directory = opendir("/proc/self/fd") else { return 0 }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            if entry.pointee.d_name.0 != UInt8(ascii: ".") { count += 1 }
        }
        return count - 1
    }
}
