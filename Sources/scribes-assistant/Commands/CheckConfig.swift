import ArgumentParser
import CurlHTTP
import Embeddings
import NIOPosix
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
        print(Self.describe(configuration.retrieval))
        print("configuration is valid")
    }

    /// The embedder in use, with the weights' checksum checked; a missing model is said, not refused (words rank alone).
    static func describe(_ settings: RetrievalSettings) -> String {
        guard settings.mode == .hybrid else { return "retrieval: words alone (RETRIEVAL_MODE=words)" }
        if let url = settings.embeddingsURL, let model = settings.embeddingsModel {
            return "retrieval: words and meaning, embeddings from \(url) (model \(model), vectors named remote:\(model))"
        }
        do {
            let model = try LocalSentenceModel(folder: settings.modelFolder, threadPool: NIOThreadPool(numberOfThreads: 1))
            let verdict = model.weightsMatchChecksum ? "matches SHA256SUMS" : "DOES NOT match SHA256SUMS: reinstall the package or rerun scripts/fetch-model"
            return "retrieval: words and meaning, model \(model.name) in \(model.folder), sha256 \(model.checksum) (\(verdict)), vectors named \(model.model)"
        } catch {
            return "retrieval: words alone, the model is not usable: \(error)"
        }
    }
}
