import NIOCore
import Synchronization

/// The open connections of a worker, the request each is running, and
/// whether the worker is stopping. Thread-safe.
final class ConnectionRegistry: Sendable {
    struct Connection {
        let channel: any Channel
        /// Cancels the request in progress, if any.
        var cancel: (@Sendable () -> Void)?
    }

    private let open = Mutex<[ObjectIdentifier: Connection]>([:])
    private let closing = Atomic<Bool>(false)

    var isClosing: Bool { closing.load(ordering: .relaxed) }

    func add(_ channel: any Channel) { open.withLock { $0[ObjectIdentifier(channel)] = Connection(channel: channel) } }
    func remove(_ channel: any Channel) { open.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(channel)) } }

    /// Runs `work` as the connection's request in progress, cancelled if the
    /// connection closes first (the client went away), so that an upstream
    /// call made for it is aborted, not paid for.
    func cancellingOnClose<Value: Sendable>(_ channel: any Channel, _ work: @escaping @Sendable () async throws -> Value) async throws -> Value {
        let task = Task { try await work() }
        let key = ObjectIdentifier(channel)
        open.withLock { $0[key]?.cancel = { task.cancel() } }
        defer { open.withLock { $0[key]?.cancel = nil } }
        if !channel.isActive { task.cancel() }  // closed before the request was registered
        return try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
    }

    func cancelRequest(on channel: any Channel) {
        open.withLock { $0[ObjectIdentifier(channel)]?.cancel }?()
    }

    func beginClosing() { closing.store(true, ordering: .relaxed) }

    /// Closes every connection still open after `delay`.
    func closeAll(after delay: Duration, on eventLoop: any EventLoop) {
        eventLoop.scheduleTask(in: TimeAmount(delay)) {
            for connection in self.open.withLock({ Array($0.values) }) { connection.channel.close(promise: nil) }
        }
    }
}
