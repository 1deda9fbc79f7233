import ArgumentParser
import Logging
import Observability
import Settings

#if canImport(Glibc)
import Glibc
#endif

/// `--env-file`, and the one place that reads the process environment.
struct ConfigurationOptions: ParsableArguments {
    @Option(name: .customLong("env-file"), help: "Read KEY=value settings from this file (default: ./.env when present). The environment wins over the file.")
    var envFile: String?

    /// A reader over the environment and the env file.
    /// - Throws: ``ConfigurationError`` when the file is unreadable or malformed.
    func makeReader() throws(ConfigurationError) -> ConfigurationReader {
        let path = envFile ?? (access(".env", R_OK) == 0 ? ".env" : nil)
        let file = try path.map { path throws(ConfigurationError) in try EnvironmentFile(contentsOf: path) }
        return ConfigurationReader(environment: ConfigurationReader.processEnvironment(), file: file)
    }

    /// Reads settings with `read`, turning a configuration error into exit 78 with one line on standard error.
    func load<Settings>(_ read: (ConfigurationReader) throws(ConfigurationError) -> Settings) throws -> (Settings, ConfigurationReader) {
        do {
            let reader = try makeReader()
            return (try read(reader), reader)
        } catch {
            printError("scribes-assistant: \(error)")
            throw ExitCode(ConfigurationError.exitCode)
        }
    }

    static var cpuCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }
}

/// Writes an error line to standard error; under the journal with the error
/// priority, so that journald keeps it even while it drops a flood of info lines.
func printError(_ line: String) {
    var standardError = StandardError()
    let destination = LogDestination.current(environment: ConfigurationReader.processEnvironment())
    print(destination.prefix(.error) + line, to: &standardError)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        _ = string.utf8CString.withUnsafeBufferPointer { Glibc.write(STDERR_FILENO, $0.baseAddress, $0.count - 1) }
    }
}
