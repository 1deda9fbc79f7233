#if canImport(Glibc)
import Glibc
#endif

/// LOG_FILE: standard error is pointed at the file, so log lines, and
/// anything else a process prints when it crashes, land there. SIGUSR1
/// reopens it after logrotate has moved it.
public enum LogFile {
    /// A relative LOG_FILE resolves under systemd's LogsDirectory= ($LOGS_DIRECTORY), else the working directory.
    public static func resolve(_ path: String, environment: [String: String]) -> String {
        guard !path.hasPrefix("/"), let directory = environment["LOGS_DIRECTORY"]?.split(separator: ":").first else { return path }
        return "\(directory)/\(path)"
    }

    /// Opens `path` for appending and makes it this process's standard error.
    /// Returns an error message when it cannot be opened (standard error is then unchanged).
    @discardableResult
    public static func redirectStandardError(to path: String) -> String? {
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard descriptor >= 0 else { return "cannot open LOG_FILE \(path): \(String(cString: strerror(errno)))" }
        dup2(descriptor, STDERR_FILENO)
        close(descriptor)
        return nil
    }
}
