import Primitives
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The worker's end of its control channel. Sending is thread-safe and never
/// blocks; `run(handler:)` blocks a dedicated thread reading what the
/// supervisor sends, and answers `requestTotals` itself.
public final class SupervisorLink: Sendable {
    let descriptor: CInt
    private let pending = Mutex<(next: UInt64, waiting: [UInt64: CheckedContinuation<String?, Never>])>((1, [:]))

    public init(slots: Int) {
        descriptor = WorkerContract.controlChannel(slots: slots)
    }

    /// Sends `message` without blocking; a full or closed channel drops it
    /// (a missed heartbeat is made up by the next one).
    public func send(_ message: WorkerContract.Message) {
        WorkerContract.send(message, on: descriptor)
    }

    /// Reads the supervisor's messages until the channel closes, handing each
    /// to `handler` except the metrics totals this worker asked for.
    /// Blocks the calling thread: run it on a thread of its own.
    public func run(handler: (WorkerContract.Message) -> Void) {
        var buffer = [UInt8](repeating: 0, count: WorkerContract.maximumMessageSize)
        while true {
            switch WorkerContract.receive(on: descriptor, buffer: &buffer, blocking: true) {
            case .message(.metrics(let id, let exposition)): resume(id, with: exposition)
            case .message(let message): handler(message)
            case .nothing: continue
            case .closed: return
            }
        }
    }

    /// Asks the supervisor for the series totalled over every worker; nil if
    /// no answer comes within `timeout`.
    public func requestTotals(timeout: Duration) async -> String? {
        let id = pending.withLock { state in
            defer { state.next += 1 }
            return state.next
        }
        let answer = await withDeadline(timeout, orElse: nil) {
            await withCheckedContinuation { continuation in
                self.pending.withLock { $0.waiting[id] = continuation }
                self.send(.metricsRequest(id: id))
            }
        }
        if answer == nil { resume(id, with: nil) }
        return answer
    }

    private func resume(_ id: UInt64, with exposition: String?) {
        pending.withLock { $0.waiting.removeValue(forKey: id) }?.resume(returning: exposition)
    }
}
