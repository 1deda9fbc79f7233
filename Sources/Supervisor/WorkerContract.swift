import CSystemd  // <sys/socket.h> names (MSG_*), which Swift's Glibc module does not always export

#if canImport(Glibc)
import Glibc
#endif

/// What a worker process inherits from the supervisor: the descriptors it
/// finds and the environment that names its slot.
///
/// Descriptors 3 ..< 3 + slots are the slots' listening sockets (slot k at
/// 3 + k); descriptor 3 + slots is the worker's end of its control channel.
public enum WorkerContract {
    public static let firstListener: CInt = 3
    /// The worker's slot (0-based).
    public static let slotVariable = "SCRIBES_WORKER_SLOT"
    /// How many slots (and so listening sockets) there are.
    public static let slotsVariable = "SCRIBES_WORKER_SLOTS"
    /// The supervisor's pid: a worker whose parent is no longer this pid is an orphan and exits.
    /// (Comparing with 1 would be wrong when the supervisor itself is PID 1, as in a container.)
    public static let supervisorVariable = "SCRIBES_SUPERVISOR_PID"

    /// The listening socket of `slot`.
    public static func listener(slot: Int) -> CInt { firstListener + CInt(slot) }
    /// The control channel when there are `slots` slots.
    public static func controlChannel(slots: Int) -> CInt { firstListener + CInt(slots) }

    /// Messages on the control channel (one datagram each).
    public enum Message: String, Sendable {
        /// Worker → supervisor: accepting connections.
        case ready
        /// Worker → supervisor: the event loop is alive.
        case heartbeat
        /// Supervisor → worker: stopping soon; report `draining` in health so load balancers move away.
        case drain
    }
}

/// The worker's end of the control channel. Thread-safe (each send is one datagram).
public struct WorkerControlChannel: Sendable {
    let descriptor: CInt

    public init(slots: Int) {
        descriptor = WorkerContract.controlChannel(slots: slots)
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
    }

    /// The messages waiting on the channel, read without blocking.
    public func receive() -> [WorkerContract.Message] {
        var messages: [WorkerContract.Message] = []
        var buffer = [UInt8](repeating: 0, count: 64)
        while case let count = recv(descriptor, &buffer, buffer.count, CInt(MSG_DONTWAIT)), count > 0 {
            if let message = WorkerContract.Message(rawValue: String(decoding: buffer[0..<count], as: UTF8.self)) { messages.append(message) }
        }
        return messages
    }

    /// Sends `message` without blocking; a full or closed channel drops it
    /// (a missed heartbeat is reported by the next one).
    public func send(_ message: WorkerContract.Message) {
        _ = message.rawValue.withCString { Glibc.send(descriptor, $0, strlen($0), CInt(MSG_NOSIGNAL)) }
    }
}
