import CurlHTTP
import Embeddings
import NIOPosix
import Settings

extension RetrievalSettings {
    /// The embedder these settings choose — the external endpoint when
    /// EMBEDDINGS_URL is set, else the local model — or nil with
    /// RETRIEVAL_MODE=words. `http` carries the external endpoint's calls;
    /// `threadPool` runs the local model's inference.
    /// - Throws: ``EmbeddingError`` when the local model is missing or unreadable.
    public func makeEmbedder(threadPool: NIOThreadPool, http: @autoclosure () -> CurlHTTPClient) throws(EmbeddingError) -> (any SentenceEmbedder)? {
        guard mode == .hybrid else { return nil }
        if let url = embeddingsURL, let model = embeddingsModel {
            return RemoteEmbeddings(.init(url: url, model: model, apiKey: embeddingsAPIKey, timeout: .seconds(embeddingsTimeoutSeconds)), client: http())
        }
        return try LocalSentenceModel(folder: modelFolder, threadPool: threadPool)
    }
}
