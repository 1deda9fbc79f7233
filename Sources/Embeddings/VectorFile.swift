import FoundationEssentials

/// Precomputed vectors of one model, keyed by the text they embed: what the
/// package ships for the KJV (so `library import` of the KJV needs no
/// inference) and what `library export-vectors` writes. A text whose vector
/// is in the file is not embedded again; any other text is.
///
/// Layout: the line `scribes-vectors 1`, the model's name, the dimensions,
/// each on its own line, then one record per text: the text's FNV-1a 64-bit
/// hash (little-endian) and its ``QuantizedVector`` bytes.
public struct VectorFile: Sendable {
    public let model: String
    public let dimensions: Int
    public private(set) var vectors: [UInt64: QuantizedVector]

    public init(model: String, dimensions: Int, vectors: [UInt64: QuantizedVector] = [:]) {
        self.model = model
        self.dimensions = dimensions
        self.vectors = vectors
    }

    /// Reads a file written by ``write(to:)``.
    /// - Throws: ``EmbeddingError`` `.modelMissing` when it cannot be read, `.invalidModel` when it is not such a file.
    public init(contentsOf path: String) throws(EmbeddingError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw EmbeddingError(code: .modelMissing, message: "cannot read \(path)")
        }
        let bytes = [UInt8](data)
        var lines: [String] = []
        var offset = 0
        while lines.count < 3, let end = bytes[offset...].firstIndex(of: UInt8(ascii: "\n")) {
            lines.append(String(decoding: bytes[offset..<end], as: UTF8.self))
            offset = end + 1
        }
        guard lines.count == 3, lines[0] == "scribes-vectors 1", let dimensions = Int(lines[2]), dimensions > 0,
            (bytes.count - offset) % (12 + dimensions) == 0
        else {
            throw EmbeddingError(code: .invalidModel, message: "\(path) is not a scribes-vectors file")
        }
        model = lines[1]
        self.dimensions = dimensions
        var vectors: [UInt64: QuantizedVector] = [:]
        vectors.reserveCapacity((bytes.count - offset) / (12 + dimensions))
        while offset < bytes.count {
            let hash = bytes[offset..<(offset + 8)].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            vectors[hash] = QuantizedVector(bytes: Array(bytes[(offset + 8)..<(offset + 12 + dimensions)]), dimensions: dimensions)
            offset += 12 + dimensions
        }
        self.vectors = vectors
    }

    public subscript(text: String) -> QuantizedVector? {
        get { vectors[Self.hash(text)] }
        set { vectors[Self.hash(text)] = newValue }
    }

    public var count: Int { vectors.count }

    /// Writes the file (records in hash order, so the same vectors give the same bytes).
    public func write(to path: String) throws {
        var bytes = Array("scribes-vectors 1\n\(model)\n\(dimensions)\n".utf8)
        for (hash, vector) in vectors.sorted(by: { $0.key < $1.key }) {
            for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: hash >> UInt64(shift))) }
            bytes += vector.bytes
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// FNV-1a, 64 bits, over the text's UTF-8.
    public static func hash(_ text: String) -> UInt64 {
        text.utf8.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }
}
