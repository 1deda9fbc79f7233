import Glibc

/// A whole file mapped read-only and shared (`MAP_SHARED`): every process
/// that maps the same file reads the same pages of the kernel's page cache,
/// so N workers pay for it once (each worker's PSS counts 1/N of it).
///
/// Threading: immutable; the bytes stay valid until `deinit`, even when the
/// file is unlinked or replaced meanwhile.
final class MappedFile: @unchecked Sendable {
    let bytes: UnsafeRawBufferPointer

    /// - Throws: the `errno` of `open`, `fstat` or `mmap` (an empty file cannot be mapped: `EINVAL`).
    init(path: String) throws(MappedFileError) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw MappedFileError(path: path, errno: errno) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw MappedFileError(path: path, errno: errno) }
        let length = Int(status.st_size)
        guard let mapped = mmap(nil, length, PROT_READ, MAP_SHARED, descriptor, 0), mapped != MAP_FAILED else {
            throw MappedFileError(path: path, errno: length == 0 ? EINVAL : errno)
        }
        bytes = UnsafeRawBufferPointer(start: mapped, count: length)
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count)
    }
}

struct MappedFileError: Error, CustomStringConvertible {
    let path: String
    let errno: CInt
    var description: String { "cannot map \(path): \(String(cString: strerror(errno)))" }
}
