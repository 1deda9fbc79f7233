import CSystemd  // <sys/socket.h> names (MSG_*), which Swift's Glibc module does not always export

#if canImport(Glibc)
import Glibc
#endif

/// What a worker process inherits from the supervisor: the descriptors it
/// finds, the environment that names its slot, and the messages on its
/// control channel.
///
/// Descriptors 3 ..< 3 + slots are the slots' listening sockets (slot k at
/// 3 + k); descriptor 3 + slots is the worker's end of its control channel
/// (a SOCK_SEQPACKET socket: one message per datagram); 3 + slots + 1 is the
/// metrics listener when `metricsVariable` is set.
public enum WorkerContract {
    public static let firstListener: CInt = 3
    /// The worker's slot (0-based).
    public static let slotVariable = "SCRIBES_WORKER_SLOT"
    /// How many slots (and so listening sockets) there are.
    public static let slotsVariable = "SCRIBES_WORKER_SLOTS"
    /// The supervisor's pid: a worker whose parent is no longer this pid is an orphan and exits.
    /// (Comparing with 1 would be wrong when the supervisor itself is PID 1, as in a container.)
    public static let supervisorVariable = "SCRIBES_SUPERVISOR_PID"
    /// Set to 1 when the worker inherits a separate metrics listener.
    public static let metricsVariable = "SCRIBES_METRICS_LISTENER"
    /// A directory of the supervisor's, for files the workers share (the library's index), removed when it exits.
    public static let sharedDirectoryVariable = "SCRIBES_SHARED_DIRECTORY"
    /// The variables the supervisor sets for each worker.
    static let variables = [slotVariable, slotsVariable, supervisorVariable, metricsVariable, sharedDirectoryVariable]

    /// The listening socket of `slot`.
    public static func listener(slot: Int) -> CInt { firstListener + CInt(slot) }
    /// The control channel when there are `slots` slots.
    public static func controlChannel(slots: Int) -> CInt { firstListener + CInt(slots) }
    /// The metrics listener when there are `slots` slots.
    public static func metricsListener(slots: Int) -> CInt { firstListener + CInt(slots) + 1 }
    /// The largest message either side sends (a metrics exposition is the big one).
    static let maximumMessageSize = 1 << 20

    /// Messages on the control channel: a verb and an optional argument on the
    /// first line, an optional payload after it.
    public enum Message: Sendable, Equatable {
        /// Worker → supervisor: accepting connections.
        case ready
        /// Worker → supervisor: every event loop is alive.
        case heartbeat
        /// Worker → supervisor: WORKER_MAX_REQUESTS reached; replace me gracefully.
        case recycle
        /// Worker → supervisor: a client asked for /metrics; gather every worker's counters.
        case metricsRequest(id: UInt64)
        /// Worker → supervisor: this worker's cumulative series (Prometheus text), for a gather or at exit (gather 0).
        case metricsReport(gather: UInt64, exposition: String)
        /// Supervisor → worker: stopping soon; report `draining` in health so load balancers move away.
        case drain
        /// Supervisor → worker: also accept on this slot's socket (its own worker is down).
        case cover(slot: Int)
        /// Supervisor → worker: stop accepting on this slot's socket (its worker is back).
        case uncover(slot: Int)
        /// Supervisor → worker: report your series for this gather.
        case metricsCollect(gather: UInt64)
        /// Supervisor → worker: the totals over every worker, answering `metricsRequest(id)`.
        case metrics(id: UInt64, exposition: String)

        public var encoded: String {
            switch self {
            case .ready: "ready"
            case .heartbeat: "heartbeat"
            case .recycle: "recycle"
            case .metricsRequest(let id): "metrics-request \(id)"
            case .metricsReport(let gather, let exposition): "metrics-report \(gather)\n\(exposition)"
            case .drain: "drain"
            case .cover(let slot): "cover \(slot)"
            case .uncover(let slot): "uncover \(slot)"
            case .metricsCollect(let gather): "metrics-collect \(gather)"
            case .metrics(let id, let exposition): "metrics \(id)\n\(exposition)"
            }
        }

        /// Reads ``encoded``'s form; nil for anything else (an unknown word, a
        /// number that is not one, a payload where the message has none).
        public init?(encoded text: String) {
            let (head, payload) = text.firstIndex(of: "\n").map { (text[..<$0], String(text[text.index(after: $0)...])) } ?? (text[...], nil)
            let words = head.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
            let argument = words.count > 1 ? UInt64(words[1]) : nil
            guard words.count == 1 || argument != nil else { return nil }
            switch (words[0], argument, payload) {
            case ("ready", nil, nil): self = .ready
            case ("heartbeat", nil, nil): self = .heartbeat
            case ("recycle", nil, nil): self = .recycle
            case ("metrics-request", let id?, nil): self = .metricsRequest(id: id)
            case ("metrics-report", let gather?, let exposition?): self = .metricsReport(gather: gather, exposition: exposition)
            case ("drain", nil, nil): self = .drain
            case ("cover", let slot?, nil): self = .cover(slot: Int(slot))
            case ("uncover", let slot?, nil): self = .uncover(slot: Int(slot))
            case ("metrics-collect", let gather?, nil): self = .metricsCollect(gather: gather)
            case ("metrics", let id?, let exposition?): self = .metrics(id: id, exposition: exposition)
            default: return nil
            }
        }
    }

    /// Sends `message` on a control channel without blocking; false when the
    /// channel is full or closed (the message is dropped).
    @discardableResult
    static func send(_ message: Message, on descriptor: CInt) -> Bool {
        var text = message.encoded
        return text.withUTF8 { bytes in
            Glibc.send(descriptor, bytes.baseAddress, bytes.count, CInt(MSG_NOSIGNAL | MSG_DONTWAIT)) == bytes.count
        }
    }

    /// Receives one message; nil when none is waiting (non-blocking) or the channel is closed.
    /// Unknown messages are skipped.
    static func receive(on descriptor: CInt, buffer: inout [UInt8], blocking: Bool) -> ReceiveResult {
        while true {
            let count = recv(descriptor, &buffer, buffer.count, blocking ? 0 : CInt(MSG_DONTWAIT))
            if count == 0 { return .closed }
            if count < 0 { return errno == EINTR ? .nothing : (errno == EAGAIN ? .nothing : .closed) }
            if let message = Message(encoded: String(decoding: buffer[0..<count], as: UTF8.self)) { return .message(message) }
        }
    }

    enum ReceiveResult {
        case message(Message)
        case nothing
        case closed
    }
}
