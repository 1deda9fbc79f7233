/// Behaviour only tests switch on, through SCRIBES_TEST_HOOKS (comma-separated):
/// `worker-exit-at-start` (every slot) or `worker-exit-at-start:K` (slot K),
/// `block-event-loops-on-sigusr2`, `limiter-clock-offset-ms:N` (moves the
/// limiter's view of Redis time, e.g. to just before midnight UTC).
///
/// Debug builds only: a release build (what ships) compiles the parsing out,
/// so no environment can move its clock or block its loops
/// (`scripts/lib/release-checks.sh` checks the hooks' names are not in it).
public struct TestHooks: Sendable {
    public static let variable = "SCRIBES_TEST_HOOKS"
    public var exitAtStart = false
    public var blockEventLoopsOnSIGUSR2 = false
    public var limiterClockOffset = Duration.zero

    public init(environment: [String: String], slot: Int) {
        #if DEBUG
        for hook in (environment[Self.variable] ?? "").split(separator: ",") {
            switch hook {
            case "worker-exit-at-start", "worker-exit-at-start:\(slot)": exitAtStart = true
            case "block-event-loops-on-sigusr2": blockEventLoopsOnSIGUSR2 = true
            case let hook where hook.hasPrefix("limiter-clock-offset-ms:"):
                limiterClockOffset = .milliseconds(Int(hook.dropFirst("limiter-clock-offset-ms:".count)) ?? 0)
            default: break
            }
        }
        #endif
    }
}
