import ArgumentParser
import Settings
import WorkerRuntime

/// `check-config`: validates the configuration and prints every value with its origin.
struct CheckConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate the configuration and print each effective value with where it came from (secrets masked). Exits 78 on an invalid value."
    )

    @OptionGroup var options: ConfigurationOptions

    func run() async throws {
        let (configuration, reader) = try options.load { reader throws(ConfigurationError) in
            try ServerConfiguration(reading: reader, cpuCount: ConfigurationOptions.cpuCount)
        }
        let width = reader.resolved.map(\.key.count).max() ?? 0
        for value in reader.resolved.sorted(by: { $0.key < $1.key }) {
            let padding = String(repeating: " ", count: width - value.key.count)
            print("\(value.key)\(padding) = \(value.displayValue)  (\(value.origin))")
        }
        print(configuration.retrieval.describeEmbedder())
        print("configuration is valid")
    }
}
