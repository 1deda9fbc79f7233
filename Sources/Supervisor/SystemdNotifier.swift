// The only file that calls libsystemd.
import CSystemd

/// sd_notify(3): readiness, status, watchdog and stop notices to systemd.
/// A no-op when NOTIFY_SOCKET is unset (not started by systemd).
public struct SystemdNotifier: Sendable {
    public init() {}

    /// Sends `KEY=value` lines in one datagram.
    public func notify(_ fields: String...) {
        _ = sd_notify(0, fields.joined(separator: "\n"))
    }

    /// Half of systemd's watchdog interval, when it set one for us.
    public var watchdogInterval: Duration? {
        var microseconds: UInt64 = 0
        guard sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else { return nil }
        return .microseconds(Int64(microseconds / 2))
    }
}

/// Asks the kernel to send `signal` to this process when its parent dies.
public func setParentDeathSignal(_ signal: CInt) {
    _ = csystemd_set_parent_death_signal(signal)
}
