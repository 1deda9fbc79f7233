// The only file that maps model weights into memory.
import Crypto
import FoundationEssentials
import Glibc
import Primitives

/// A `.safetensors` file mapped read-only: an 8-byte little-endian header
/// size, a JSON header naming each tensor's dtype, shape and byte range, then
/// the tensors' bytes. The mapping is shared with every other process that maps
/// the same file (the kernel's page cache), so N workers pay for the weights
/// once, not N times.
///
/// Threading: the mapping is read-only and lives until `deinit`; pointers from
/// ``tensor(_:shape:)`` stay valid while the file object does.
public final class SafeTensorsFile: @unchecked Sendable {
    struct Entry: Decodable {
        let dtype: String
        let shape: [Int]
        let data_offsets: [Int]
    }

    let file: MappedFile
    let dataStart: Int
    let entries: [String: Entry]
    public let path: String
    var base: UnsafeRawPointer { file.bytes.baseAddress! }
    var length: Int { file.bytes.count }

    /// - Throws: ``EmbeddingError`` `.modelMissing` when the file cannot be
    ///   opened, `.invalidModel` when it is not a safetensors file.
    public init(path: String) throws(EmbeddingError) {
        self.path = path
        do {
            file = try MappedFile(path: path)
        } catch {
            throw EmbeddingError(code: error.errno == ENOENT ? .modelMissing : .invalidModel, message: error.description)
        }
        guard file.bytes.count > 8 else {
            throw EmbeddingError(code: .invalidModel, message: "\(path) is not a safetensors file (too short)")
        }
        let headerSize = Int(UInt64(littleEndian: file.bytes.loadUnaligned(as: UInt64.self)))
        dataStart = 8 + headerSize
        guard headerSize > 0, dataStart <= file.bytes.count,
            let header = try? JSONDecoder().decode(SafeTensorsHeader.self, from: Data(UnsafeRawBufferPointer(rebasing: file.bytes[8..<dataStart])))
        else {
            throw EmbeddingError(code: .invalidModel, message: "\(path) has no readable safetensors header")
        }
        entries = header.entries
    }

    /// The sha256 of the whole file, as hex (reads every page: ~0.2 s for 90 MB).
    public func sha256() -> String {
        Hex.encode(SHA256.hash(data: file.bytes))
    }

    /// The float32 tensor `name`, checked to have `shape`.
    /// - Throws: ``EmbeddingError`` `.invalidModel` when it is missing, of another dtype or shape, or out of the file.
    public func tensor(_ name: String, shape: [Int]) throws(EmbeddingError) -> UnsafePointer<Float> {
        guard let entry = entries[name] else {
            throw EmbeddingError(code: .invalidModel, message: "\(path) has no tensor \(name)")
        }
        let bytes = shape.reduce(4, *)
        guard entry.dtype == "F32", entry.shape == shape, entry.data_offsets.count == 2,
            entry.data_offsets[1] - entry.data_offsets[0] == bytes, dataStart + entry.data_offsets[1] <= length,
            (dataStart + entry.data_offsets[0]) % MemoryLayout<Float>.alignment == 0
        else {
            throw EmbeddingError(code: .invalidModel, message: "\(path): \(name) is \(entry.dtype) \(entry.shape), expected F32 \(shape)")
        }
        return (base + dataStart + entry.data_offsets[0]).assumingMemoryBound(to: Float.self)
    }
}

/// The header's tensors; `__metadata__` (free-form strings) is skipped.
struct SafeTensorsHeader: Decodable {
    let entries: [String: SafeTensorsFile.Entry]

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        var entries: [String: SafeTensorsFile.Entry] = [:]
        for key in container.allKeys where key.stringValue != "__metadata__" {
            entries[key.stringValue] = try container.decode(SafeTensorsFile.Entry.self, forKey: key)
        }
        self.entries = entries
    }
}
