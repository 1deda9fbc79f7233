/// Passages' vectors of one model, scanned exactly: at the library's size
/// (31,102 KJV verses, 12 MB as int8) a full scan takes a few milliseconds,
/// so no approximate index is needed (docs/retrieval.md). The rows are one
/// contiguous block, so a worker holds the library in one allocation.
///
/// Immutable once built; safe to share between threads.
public struct VectorIndex: Sendable {
    /// The vector space the rows belong to (``SentenceEmbedder/model``).
    public let model: String
    public let dimensions: Int
    /// Each row's passage (a verse's ref).
    let ids: [String]
    let scales: [Float]
    let values: [Int8]
    /// Each id's row, for ``similarity(of:to:)``.
    let rows: [String: Int]

    public var count: Int { ids.count }

    public init(model: String, dimensions: Int, rows: [(id: String, vector: QuantizedVector)]) {
        self.model = model
        self.dimensions = dimensions
        let kept = rows.filter { $0.vector.values.count == dimensions }
        ids = kept.map(\.id)
        self.rows = Dictionary(kept.enumerated().map { ($1.id, $0) }, uniquingKeysWith: { first, _ in first })
        scales = kept.map(\.vector.scale)
        values = kept.flatMap(\.vector.values)
    }

    /// The cosine of the row `id` with the unit vector `query`; nil when there is no such row.
    public func similarity(of id: String, to query: [Float]) -> Float? {
        guard let row = rows[id], query.count == dimensions else { return nil }
        return values.withUnsafeBufferPointer { values in
            query.withUnsafeBufferPointer { Self.dot(values.baseAddress! + row * dimensions, $0.baseAddress!, count: dimensions) * scales[row] }
        }
    }

    /// The `limit` rows most similar to the unit vector `query` with a cosine of at least `floor`, best first.
    public func nearest(to query: [Float], limit: Int, floor: Float) -> [(id: String, similarity: Float)] {
        guard query.count == dimensions, limit > 0 else { return [] }
        var best: [(id: String, similarity: Float)] = []
        var threshold = floor
        values.withUnsafeBufferPointer { values in
            query.withUnsafeBufferPointer { query in
                for row in 0..<ids.count {
                    let similarity = Self.dot(values.baseAddress! + row * dimensions, query.baseAddress!, count: dimensions) * scales[row]
                    guard similarity >= threshold else { continue }
                    let place = best.firstIndex { $0.similarity < similarity } ?? best.count
                    best.insert((ids[row], similarity), at: place)
                    if best.count > limit {
                        best.removeLast()
                        threshold = best[best.count - 1].similarity
                    }
                }
            }
        }
        return best
    }

    /// Eight lanes at a time, which the compiler keeps in vector registers on
    /// baseline x86-64 (SSE2): ~4-5 ms for the KJV's 31,102 rows on one core.
    static func dot(_ row: UnsafePointer<Int8>, _ query: UnsafePointer<Float>, count: Int) -> Float {
        var sums = SIMD8<Float>()
        var column = 0
        while column + 8 <= count {
            let (r, q) = (row + column, query + column)
            sums += SIMD8(Float(r[0]), Float(r[1]), Float(r[2]), Float(r[3]), Float(r[4]), Float(r[5]), Float(r[6]), Float(r[7]))
                * SIMD8(q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7])
            column += 8
        }
        var sum = sums.sum()
        while column < count {
            sum += Float(row[column]) * query[column]
            column += 1
        }
        return sum
    }
}
