import Glibc

/// Passages' vectors of one model, scanned exactly: at the library's size
/// (31,102 KJV verses, 12 MB as int8) a full scan takes a few milliseconds,
/// so no approximate index is needed (docs/retrieval.md).
///
/// The index is one block of bytes in the layout of an index file, held in
/// memory or mapped from a file (``init(contentsOf:model:)``): workers that map
/// the same file share its pages, so an added worker does not pay for the
/// library again (``shared(at:model:build:)``). Rows are sorted by id, so a
/// passage's row is found by binary search without a dictionary.
///
/// The layout, little-endian: the magic `SAVINDX1`; dimensions, rows, the
/// model's and the ids' byte counts (four `UInt32`); the model's name (UTF-8)
/// padded to 4 bytes; `rows + 1` id offsets (`UInt32`); the ids (UTF-8)
/// padded to 4 bytes; one `Float` scale per row; the rows' values (`Int8`).
///
/// Immutable; safe to share between threads.
public final class VectorIndex: @unchecked Sendable {
    /// The vector space the rows belong to (``SentenceEmbedder/model``).
    public let model: String
    public let dimensions: Int
    public let count: Int
    let storage: Storage
    let idOffsets: UnsafePointer<UInt32>
    let idBytes: UnsafePointer<UInt8>
    let scales: UnsafePointer<Float>
    let values: UnsafePointer<Int8>

    static let magic = Array("SAVINDX1".utf8)

    /// An index held in this process's memory. Rows whose length is not
    /// `dimensions` are dropped; of rows with the same id the first is kept.
    public convenience init(model: String, dimensions: Int, rows: [(id: String, vector: QuantizedVector)]) {
        let bytes = Self.encode(model: model, dimensions: dimensions, rows: rows)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 16)
        bytes.withUnsafeBytes { buffer.copyMemory(from: $0) }
        try! self.init(storage: .allocated(UnsafeRawBufferPointer(buffer)), model: model)  // encode's own layout always reads back
    }

    /// The index file at `path`, mapped read-only.
    /// - Throws: ``EmbeddingError`` `.invalidModel` when it cannot be mapped, is
    ///   not an index file, or holds another model's vectors.
    public convenience init(contentsOf path: String, model: String) throws(EmbeddingError) {
        do {
            try self.init(storage: .mapped(try MappedFile(path: path)), model: model)
        } catch let error as MappedFileError {
            throw EmbeddingError(code: .invalidModel, message: error.description)
        } catch let error as EmbeddingError {
            throw EmbeddingError(code: error.code, message: "\(path): \(error.message)")
        } catch {
            fatalError("unreachable: \(error)")
        }
    }

    init(storage: Storage, model: String) throws(EmbeddingError) {
        self.storage = storage
        let layout = try Layout(reading: storage.bytes)
        guard layout.model == model else {
            throw EmbeddingError(code: .invalidModel, message: "holds vectors of \(layout.model), not of \(model)")
        }
        let base = storage.bytes.baseAddress!
        (self.model, dimensions, count) = (model, layout.dimensions, layout.count)
        idOffsets = (base + layout.idOffsets).assumingMemoryBound(to: UInt32.self)
        idBytes = (base + layout.ids).assumingMemoryBound(to: UInt8.self)
        scales = (base + layout.scales).assumingMemoryBound(to: Float.self)
        values = (base + layout.values).assumingMemoryBound(to: Int8.self)
    }

    deinit {
        if case .allocated(let bytes) = storage { bytes.deallocate() }
    }

    /// The index file at `path`, shared by every process that asks for it:
    /// mapped when it is there and valid, else built by `build` and written
    /// there first — by one process at a time (an advisory lock on
    /// `path.lock`): the others wait, then map what it wrote.
    /// - Throws: what `build` throws, or ``EmbeddingError`` when the file cannot be written or read back.
    public static func shared(at path: String, model: String, build: () async throws -> VectorIndex) async throws -> VectorIndex {
        if let mapped = try? VectorIndex(contentsOf: path, model: model) { return mapped }
        let lock = open(path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lock >= 0 else { throw writeError(path + ".lock") }
        defer { close(lock) }  // which releases the lock
        while flock(lock, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else { throw writeError(path + ".lock") }
            try await Task.sleep(for: .milliseconds(20))
        }
        if let mapped = try? VectorIndex(contentsOf: path, model: model) { return mapped }
        try await build().write(to: path)
        return try VectorIndex(contentsOf: path, model: model)
    }

    /// Writes the index to `path` (through a temporary file and a rename, so a reader never sees half of it).
    public func write(to path: String) throws(EmbeddingError) {
        let temporary = path + ".\(getpid()).tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw Self.writeError(temporary) }
        let bytes = storage.bytes
        var written = 0
        while written < bytes.count {
            let result = Glibc.write(descriptor, bytes.baseAddress! + written, bytes.count - written)
            guard result > 0 else {
                let error = Self.writeError(temporary)
                close(descriptor)
                unlink(temporary)
                throw error
            }
            written += result
        }
        close(descriptor)
        guard rename(temporary, path) == 0 else {
            let error = Self.writeError(path)
            unlink(temporary)
            throw error
        }
    }

    private static func writeError(_ path: String) -> EmbeddingError {
        EmbeddingError(code: .invalidModel, message: "cannot write \(path): \(String(cString: strerror(errno)))")
    }

    /// The id of `row`.
    func id(at row: Int) -> String {
        String(decoding: UnsafeBufferPointer(start: idBytes + Int(idOffsets[row]), count: Int(idOffsets[row + 1] - idOffsets[row])), as: UTF8.self)
    }

    /// The row of `id` (binary search over the sorted ids); nil when there is none.
    func row(of id: String) -> Int? {
        var id = id
        return id.withUTF8 { key in
            var (low, high) = (0, count)
            while low < high {
                let middle = (low + high) / 2
                let start = Int(idOffsets[middle])
                let candidate = UnsafeBufferPointer(start: idBytes + start, count: Int(idOffsets[middle + 1]) - start)
                if candidate.elementsEqual(key) { return middle }
                if candidate.lexicographicallyPrecedes(key) { low = middle + 1 } else { high = middle }
            }
            return nil
        }
    }

    /// The cosine of the row `id` with the unit vector `query`; nil when there is no such row.
    public func similarity(of id: String, to query: [Float]) -> Float? {
        guard let row = row(of: id), query.count == dimensions else { return nil }
        return query.withUnsafeBufferPointer { Self.dot(values + row * dimensions, $0.baseAddress!, count: dimensions) * scales[row] }
    }

    /// The `limit` rows most similar to the unit vector `query` with a cosine of at least `floor`, best first.
    public func nearest(to query: [Float], limit: Int, floor: Float) -> [(id: String, similarity: Float)] {
        guard query.count == dimensions, limit > 0 else { return [] }
        var best: [(row: Int, similarity: Float)] = []
        var threshold = floor
        query.withUnsafeBufferPointer { query in
            for row in 0..<count {
                let similarity = Self.dot(values + row * dimensions, query.baseAddress!, count: dimensions) * scales[row]
                guard similarity >= threshold else { continue }
                let place = best.firstIndex { $0.similarity < similarity } ?? best.count
                best.insert((row, similarity), at: place)
                if best.count > limit {
                    best.removeLast()
                    threshold = best[best.count - 1].similarity
                }
            }
        }
        return best.map { (id(at: $0.row), $0.similarity) }
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

extension VectorIndex {
    /// Where the bytes live: this process's memory, or a file's shared pages.
    enum Storage {
        case allocated(UnsafeRawBufferPointer)
        case mapped(MappedFile)

        var bytes: UnsafeRawBufferPointer {
            switch self {
            case .allocated(let bytes): bytes
            case .mapped(let file): file.bytes
            }
        }
    }

    /// The sections' offsets, checked against the bytes' length.
    struct Layout {
        let model: String
        let dimensions: Int
        let count: Int
        let idOffsets: Int
        let ids: Int
        let scales: Int
        let values: Int
        let end: Int

        init(model: String, dimensions: Int, count: Int, idBytes: Int) {
            (self.model, self.dimensions, self.count) = (model, dimensions, count)
            idOffsets = Self.padded(24 + model.utf8.count)
            ids = idOffsets + 4 * (count + 1)
            scales = Self.padded(ids + idBytes)
            values = scales + 4 * count
            end = values + count * dimensions
        }

        init(reading bytes: UnsafeRawBufferPointer) throws(EmbeddingError) {
            func field(_ offset: Int) -> Int { Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))) }
            guard bytes.count >= 24, bytes.prefix(8).elementsEqual(VectorIndex.magic) else {
                throw EmbeddingError(code: .invalidModel, message: "not a vector index (no SAVINDX1 header)")
            }
            let (dimensions, count, modelBytes, idBytes) = (field(8), field(12), field(16), field(20))
            guard 24 + modelBytes <= bytes.count else { throw EmbeddingError(code: .invalidModel, message: "a truncated vector index") }
            let model = String(decoding: bytes[24..<24 + modelBytes], as: UTF8.self)
            self.init(model: model, dimensions: dimensions, count: count, idBytes: idBytes)
            guard end == bytes.count, field(idOffsets + 4 * count) == idBytes else {
                throw EmbeddingError(code: .invalidModel, message: "a truncated vector index (\(bytes.count) bytes of \(end))")
            }
        }

        static func padded(_ offset: Int) -> Int { (offset + 3) & ~3 }
    }

    /// The index file's bytes for `rows` (sorted by id, one row per id).
    static func encode(model: String, dimensions: Int, rows: [(id: String, vector: QuantizedVector)]) -> [UInt8] {
        let sorted = rows.enumerated().filter { $0.element.vector.values.count == dimensions }.sorted { a, b in
            a.element.id.utf8.elementsEqual(b.element.id.utf8) ? a.offset < b.offset : a.element.id.utf8.lexicographicallyPrecedes(b.element.id.utf8)
        }
        var kept: [(id: String, vector: QuantizedVector)] = []
        for (_, row) in sorted where !(kept.last.map { $0.id.utf8.elementsEqual(row.id.utf8) } ?? false) { kept.append(row) }
        let idBytes = kept.reduce(0) { $0 + $1.id.utf8.count }
        let layout = Layout(model: model, dimensions: dimensions, count: kept.count, idBytes: idBytes)
        var bytes = [UInt8](repeating: 0, count: layout.end)
        func put(_ value: UInt32, at offset: Int) { withUnsafeBytes(of: value.littleEndian) { bytes.replaceSubrange(offset..<offset + 4, with: $0) } }
        bytes.replaceSubrange(0..<8, with: magic)
        for (offset, value) in [(8, dimensions), (12, kept.count), (16, model.utf8.count), (20, idBytes)] { put(UInt32(value), at: offset) }
        bytes.replaceSubrange(24..<24 + model.utf8.count, with: model.utf8)
        var idOffset = 0
        for (row, entry) in kept.enumerated() {
            put(UInt32(idOffset), at: layout.idOffsets + 4 * row)
            bytes.replaceSubrange(layout.ids + idOffset..<layout.ids + idOffset + entry.id.utf8.count, with: entry.id.utf8)
            idOffset += entry.id.utf8.count
            put(entry.vector.scale.bitPattern, at: layout.scales + 4 * row)
            for (column, value) in entry.vector.values.enumerated() { bytes[layout.values + row * dimensions + column] = UInt8(bitPattern: value) }
        }
        put(UInt32(idOffset), at: layout.idOffsets + 4 * kept.count)
        return bytes
    }
}
