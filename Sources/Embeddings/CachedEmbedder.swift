import DequeModule
import Synchronization

/// Remembers the vectors of the last ``capacity`` texts, so a repeated
/// question costs no inference. The key is the text lower-cased with its
/// whitespace collapsed — exactly what an uncased WordPiece model reads, so a
/// hit returns the vector the model would compute — under the model's name.
///
/// Thread-safe (a `Mutex` around the table); the model runs outside the lock.
public final class CachedEmbedder: SentenceEmbedder {
    struct Table {
        var vectors: [String: [Float]] = [:]
        var order: Deque<String> = []
    }

    let base: any SentenceEmbedder
    let capacity: Int
    let table = Mutex(Table())

    public var model: String { base.model }

    public init(_ base: any SentenceEmbedder, capacity: Int = 4096) {
        self.base = base
        self.capacity = capacity
    }

    public func embed(_ texts: [String]) async throws(EmbeddingError) -> [[Float]] {
        let keys = texts.map(Self.key)
        let known = table.withLock { table in keys.map { table.vectors[$0] } }
        let missing = zip(texts, known).filter { $0.1 == nil }.map(\.0)
        var computed = missing.isEmpty ? [] : try await base.embed(missing)[...]
        let vectors = known.map { $0 ?? computed.removeFirst() }
        table.withLock { table in
            for (key, vector) in zip(keys, vectors) where table.vectors.updateValue(vector, forKey: key) == nil {
                table.order.append(key)
                if table.order.count > capacity, let oldest = table.order.popFirst() { table.vectors[oldest] = nil }
            }
        }
        return vectors
    }

    static func key(_ text: String) -> String {
        text.lowercased().split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }
}
