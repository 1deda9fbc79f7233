import ArgumentParser
import Limits
import Logging
import RedisClient
import Settings
import WorkerRuntime

/// After an import has committed: cached answers built on the old data are no
/// longer served (the user's notes version, or the library's when `userID` is
/// nil). Redis unreachable: exit 75, the import kept (running it again imports
/// nothing twice and invalidates again).
func invalidateCachedAnswers(_ options: ConfigurationOptions, userID: Int?) async throws {
    let (settings, _) = try options.load { reader throws(ConfigurationError) in
        (try RedisSettings(reading: reader), try AnswerSettings(reading: reader))
    }
    guard settings.1.cacheEnabled else { return }
    let redis = RedisClient(settings.0, maxConnections: 1, logger: makeCommandLogger())
    defer { redis.shutdown() }
    do {
        try await AnswerCache.invalidate(userID, redis: redis, timeout: .seconds(5))
    } catch {
        printError("scribes-assistant: imported, but cached answers built on the old data could not be invalidated (\(error)): run the import again once Redis is reachable")
        throw ExitCode(75)  // EX_TEMPFAIL
    }
}
