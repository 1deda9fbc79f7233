import FoundationEssentials
import NIOPosix

/// A sentence-transformers model installed in a folder: `model.safetensors`,
/// `config.json`, `vocab.txt` and `SHA256SUMS` (written by scripts/fetch-model
/// once the weights matched their recorded checksum). Encodes on the caller's
/// thread pool, never on an event loop (~5-10 ms of one core per question).
///
/// Threading: immutable; the weights are a shared read-only mapping.
public final class LocalSentenceModel: SentenceEmbedder {
    /// The longest input the model reads, in tokens (sentence-transformers' `max_seq_length`).
    public static let maxTokens = 256
    static let batchTokens = 4096

    public let model: String
    /// The folder's name, e.g. all-MiniLM-L6-v2.
    public let name: String
    /// The weights' sha256, from SHA256SUMS.
    public let checksum: String
    public let folder: String
    let tokenizer: WordPieceTokenizer
    let encoder: SentenceEncoder
    let threadPool: NIOThreadPool

    /// Loads the model in `folder` (the weights are mapped, not read).
    /// - Throws: ``EmbeddingError`` `.modelMissing` when the folder or a file is absent, `.invalidModel` when a file is not what the encoder reads.
    public init(folder: String, threadPool: NIOThreadPool) throws(EmbeddingError) {
        self.folder = folder
        self.threadPool = threadPool
        name = String(folder.split(separator: "/").last ?? Substring(folder))
        let sums = try Self.read(folder + "/SHA256SUMS")
        guard let line = sums.split(separator: "\n").first(where: { $0.hasSuffix(" model.safetensors") }),
            let sum = line.split(separator: " ").first, sum.count == 64
        else {
            throw EmbeddingError(code: .invalidModel, message: "\(folder)/SHA256SUMS has no checksum for model.safetensors")
        }
        checksum = String(sum)
        model = "\(name)@\(checksum.prefix(12))"
        let shape: EncoderShape
        do {
            shape = try JSONDecoder().decode(EncoderShape.self, from: Data(try Self.read(folder + "/config.json").utf8))
        } catch let error as EmbeddingError {
            throw error
        } catch {
            throw EmbeddingError(code: .invalidModel, message: "\(folder)/config.json is not a BERT configuration: \(error)")
        }
        tokenizer = try WordPieceTokenizer(vocabulary: try Self.read(folder + "/vocab.txt"), maxTokens: min(Self.maxTokens, shape.maxPositionEmbeddings))
        encoder = try SentenceEncoder(weights: try SafeTensorsFile(path: folder + "/model.safetensors"), shape: shape)
    }

    /// Whether the weights are the ones SHA256SUMS names (reads the whole file).
    public var weightsMatchChecksum: Bool { encoder.file.sha256() == checksum }

    public func embed(_ texts: [String]) async throws(EmbeddingError) -> [[Float]] {
        do {
            return try await threadPool.runIfActive { self.embedBlocking(texts) }
        } catch {
            throw EmbeddingError(code: .upstream, message: "the embedding thread pool is stopped")
        }
    }

    /// Encodes on the calling thread, in batches of about ``batchTokens`` tokens (a library import's verses).
    public func embedBlocking(_ texts: [String]) -> [[Float]] {
        var vectors: [[Float]] = []
        vectors.reserveCapacity(texts.count)
        var batch: [[Int32]] = []
        var tokens = 0
        for text in texts {
            let ids = tokenizer.tokenize(text)
            if tokens + ids.count > Self.batchTokens, !batch.isEmpty {
                vectors += encoder.encode(batch)
                batch = []
                tokens = 0
            }
            batch.append(ids)
            tokens += ids.count
        }
        if !batch.isEmpty { vectors += encoder.encode(batch) }
        return vectors
    }

    static func read(_ path: String) throws(EmbeddingError) -> String {
        do {
            return try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw EmbeddingError(code: .modelMissing, message: "cannot read \(path): install the model (scripts/fetch-model) or set RETRIEVAL_MODE=words")
        }
    }
}
