import Synchronization

/// Whether this worker is draining: its supervisor is stopping, so health
/// answers 503 `draining` and load balancers stop sending. Thread-safe.
public final class DrainState: Sendable {
    private let draining = Atomic<Bool>(false)

    public init() {}

    public var isDraining: Bool { draining.load(ordering: .relaxed) }

    public func beginDraining() { draining.store(true, ordering: .relaxed) }
}
