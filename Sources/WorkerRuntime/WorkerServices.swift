import ServiceLifecycle

/// The worker's background work as services of one `ServiceGroup`, which
/// starts them together and, on SIGTERM, shuts them down one by one in the
/// reverse order of their registration: the HTTP servers first (they drain),
/// the pools last (they close).
struct BackgroundService: Service {
    private let work: @Sendable () async -> Void

    /// Runs `work` until the group shuts down, then cancels it (a loop with nothing to finish).
    static func cancelled(_ work: @escaping @Sendable () async -> Void) -> BackgroundService {
        BackgroundService { await cancelWhenGracefulShutdown(work) }
    }

    /// Runs `work` until the group shuts down, then calls `stop`, and waits
    /// while `work` finishes what it holds (the settlement queue delivers).
    static func stopped(_ work: @escaping @Sendable () async -> Void, stop: @escaping @Sendable () -> Void) -> BackgroundService {
        BackgroundService { await withGracefulShutdownHandler(operation: work, onGracefulShutdown: stop) }
    }

    /// Does nothing until the group shuts down (or is cancelled), then `close`s: the owner of a resource.
    static func closing(_ close: @escaping @Sendable () async -> Void) -> BackgroundService {
        BackgroundService {
            try? await gracefulShutdown()
            await close()
        }
    }

    private init(_ work: @escaping @Sendable () async -> Void) {
        self.work = work
    }

    func run() async { await work() }
}

extension ServiceGroupConfiguration.ServiceConfiguration {
    /// A service whose return, before the group shuts down, leaves the others running.
    static func background(_ service: any Service) -> Self {
        .init(service: service, successTerminationBehavior: .ignore)
    }
}
