import Logging
import Primitives

#if canImport(Glibc)
import Glibc
#endif

/// A swift-log handler that writes one line per record to standard error,
/// with one `write(2)` so lines from several processes sharing a file or the
/// journal's socket never interleave.
///
/// - `logfmt`: `time=… level=INFO msg="…" key=value …` (levels in capitals,
///   as the guide's `grep ERROR` expects).
/// - `json`: one object per line with the same keys.
///
/// Under the journal (``LogDestination/journal``) every line starts with the
/// sd-daemon priority prefix (`<4>` for a warning) and leaves the time to
/// journald, so `journalctl -p warning` filters by level.
public struct LogLineHandler: LogHandler {
    public enum Format: String, Sendable {
        case logfmt, json
    }

    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let format: Format
    let destination: LogDestination

    public init(format: Format, destination: LogDestination, metadataProvider: Logger.MetadataProvider? = nil) {
        self.format = format
        self.destination = destination
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { _, new in new } }
        if let own = event.metadata { fields.merge(own) { _, new in new } }
        var line = destination.prefix(event.level)
        let time = destination == .journal ? nil : Timestamp.now()
        switch format {
        case .logfmt: LogLine.logfmt(into: &line, time: time, level: event.level, message: "\(event.message)", fields: fields)
        case .json: LogLine.json(into: &line, time: time, level: event.level, message: "\(event.message)", fields: fields)
        }
        line.append("\n")
        Self.write(line)
    }

    private static func write(_ line: String) {
        var line = line
        line.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(STDERR_FILENO, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0, errno == EINTR { continue }
                // A full disk or a closed descriptor: the line is lost, the process goes on.
                guard written > 0 else { return }
                offset += written
            }
        }
    }
}

/// Where standard error goes, which decides the line prefix.
public enum LogDestination: Sendable, Equatable {
    case stream
    /// systemd connected standard error to the journal: `JOURNAL_STREAM`
    /// names the device and inode of that stream, and standard error is
    /// still it (not redirected to LOG_FILE since).
    case journal

    public static func current(environment: [String: String]) -> LogDestination {
        guard let stream = environment["JOURNAL_STREAM"] else { return .stream }
        let parts = stream.split(separator: ":")
        var status = stat()
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]), fstat(STDERR_FILENO, &status) == 0 else { return .stream }
        return UInt64(status.st_dev) == device && UInt64(status.st_ino) == inode ? .journal : .stream
    }

    /// What starts a line of `level`: under the journal, the sd-daemon(3)
    /// priority prefix. journald rate-limits each priority group apart, so a
    /// flood of access lines (info) cannot push out a warning or an error.
    public func prefix(_ level: Logger.Level) -> String {
        guard self == .journal else { return "" }
        return "<\(Self.priority(level))>"
    }

    /// syslog(3) priorities.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }
}

/// Formats one record; the value escaping of each format.
enum LogLine {
    static func logfmt(into line: inout String, time: String?, level: Logger.Level, message: String, fields: Logger.Metadata) {
        if let time { line += "time=\(time) " }
        line += "level=\(name(level)) msg="
        appendLogfmtValue(message, to: &line)
        for key in fields.keys.sorted() {
            line += " \(key)="
            appendLogfmtValue(flatten(fields[key]!), to: &line)
        }
    }

    static func json(into line: inout String, time: String?, level: Logger.Level, message: String, fields: Logger.Metadata) {
        line += "{"
        if let time { line += "\"time\":\"\(time)\"," }
        line += "\"level\":\"\(name(level))\",\"msg\":"
        appendJSONString(message, to: &line)
        for key in fields.keys.sorted() where !["time", "level", "msg"].contains(key) {
            line += ","
            appendJSONString(key, to: &line)
            line += ":"
            appendJSONString(flatten(fields[key]!), to: &line)
        }
        line += "}"
    }

    static func name(_ level: Logger.Level) -> String {
        switch level {
        case .trace: "TRACE"
        case .debug: "DEBUG"
        case .info: "INFO"
        case .notice: "NOTICE"
        case .warning: "WARNING"
        case .error: "ERROR"
        case .critical: "CRITICAL"
        }
    }

    static func flatten(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let string): string
        case .stringConvertible(let convertible): convertible.description
        case .array(let values): "[" + values.map(flatten).joined(separator: ",") + "]"
        case .dictionary(let values): "{" + values.keys.sorted().map { "\($0):\(flatten(values[$0]!))" }.joined(separator: ",") + "}"
        }
    }

    /// Bare when it needs no quoting; else quoted, with quotes, backslashes
    /// and control characters escaped, so a value never breaks the line.
    static func appendLogfmtValue(_ value: String, to line: inout String) {
        let bare = !value.isEmpty && value.unicodeScalars.allSatisfy { $0.value > 0x20 && $0 != "\"" && $0 != "=" && $0 != "\\" && $0.value != 0x7F }
        if bare {
            line += value
        } else {
            appendJSONString(value, to: &line)
        }
    }

    static func appendJSONString(_ value: String, to line: inout String) { JSONText.append(value, to: &line) }
}

/// RFC 3339 UTC time with milliseconds, without Foundation.
enum Timestamp {
    static func now() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        var seconds = spec.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let millis = Int(spec.tv_nsec / 1_000_000)
        let fraction = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(fraction)Z"
    }
}
