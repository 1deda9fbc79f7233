#if canImport(Glibc)
import Glibc
#endif

/// The lines of a text file, read one at a time (blocking), with their numbers.
/// Memory stays at one line whatever the file's size.
package struct JSONLinesFile: Sequence {
    let path: String
    private let file: UnsafeMutablePointer<FILE>

    /// - Throws: ``StoreError`` `.unreadableFile`.
    package init(path: String) throws(StoreError) {
        guard let file = fopen(path, "r") else {
            throw StoreError(code: .unreadableFile, message: "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        self.init(path: path, file: file)
    }

    /// Reads an open stream (`fmemopen` in the fuzzers), closed by ``close()``.
    package init(path: String, file: UnsafeMutablePointer<FILE>) {
        self.path = path
        self.file = file
    }

    package func close() { fclose(file) }

    package func makeIterator() -> Iterator { Iterator(file: file) }

    package struct Iterator: IteratorProtocol {
        let file: UnsafeMutablePointer<FILE>
        var number = 0

        package mutating func next() -> (number: Int, bytes: [UInt8])? {
            var buffer: UnsafeMutablePointer<CChar>?
            var capacity = 0
            defer { free(buffer) }
            let length = getline(&buffer, &capacity, file)
            guard length >= 0, let buffer else { return nil }
            number += 1
            var bytes = buffer.withMemoryRebound(to: UInt8.self, capacity: length) { Array(UnsafeBufferPointer(start: $0, count: length)) }
            while let last = bytes.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") { bytes.removeLast() }
            return (number, bytes)
        }
    }
}
