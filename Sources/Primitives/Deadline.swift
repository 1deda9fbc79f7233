/// Runs `work` and returns its result, or `fallback` once `timeout` has
/// passed (the work is then cancelled). For calls that cannot take a
/// deadline of their own, such as a continuation another thread resumes.
public func withDeadline<Result: Sendable>(
    _ timeout: Duration, orElse fallback: Result, _ work: @escaping @Sendable () async -> Result
) async -> Result {
    await withTaskGroup(of: Result.self) { group in
        group.addTask { await work() }
        group.addTask {
            try? await Task.sleep(for: timeout)
            return fallback
        }
        let first = await group.next() ?? fallback
        group.cancelAll()
        return first
    }
}
