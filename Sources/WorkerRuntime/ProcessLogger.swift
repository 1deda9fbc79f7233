import Logging
import Observability
import Settings

/// Bootstraps logging as LOG_FORMAT and LOG_LEVEL say (once per process,
/// after LOG_FILE is in place: standard error decides the journal prefixes)
/// and returns the process's logger.
public func makeProcessLogger(_ configuration: ServerConfiguration, environment: [String: String]) -> Logger {
    let level = Logger.Level(rawValue: configuration.observability.logLevel.rawValue) ?? .info
    let format = LogLineHandler.Format(rawValue: configuration.observability.logFormat.rawValue) ?? .logfmt
    Observability.bootstrapLogging(format: format, level: level, environment: environment)
    var logger = Logger(label: "scribes-assistant")
    logger.logLevel = level
    return logger
}

/// A data command's logger: warnings and errors only, since commands print their own results.
public func makeCommandLogger() -> Logger {
    var logger = Logger(label: "scribes-assistant")
    logger.logLevel = .warning
    return logger
}
