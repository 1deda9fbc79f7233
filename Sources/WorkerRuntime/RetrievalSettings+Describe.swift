import Embeddings
import NIOPosix
import Settings

extension RetrievalSettings {
    /// The embedder in use, with the weights' checksum checked (`check-config`); a missing model is said, not refused (words rank alone).
    public func describeEmbedder() -> String {
        guard mode == .hybrid else { return "retrieval: words alone (RETRIEVAL_MODE=words)" }
        if let embeddingsURL, let embeddingsModel {
            return "retrieval: words and meaning, embeddings from \(embeddingsURL) (model \(embeddingsModel), vectors named remote:\(embeddingsModel))"
        }
        do {
            let model = try LocalSentenceModel(folder: modelFolder, threadPool: NIOThreadPool(numberOfThreads: 1))
            let verdict = model.weightsMatchChecksum ? "matches SHA256SUMS" : "DOES NOT match SHA256SUMS: reinstall the package or rerun scripts/fetch-model"
            return "retrieval: words and meaning, model \(model.name) in \(model.folder), sha256 \(model.checksum) (\(verdict)), vectors named \(model.model)"
        } catch {
            return "retrieval: words alone, the model is not usable: \(error)"
        }
    }
}
