#if canImport(Glibc)
import Glibc
#endif

/// A private directory (mode 0700) for files the workers share — the library's
/// index, which every worker maps instead of holding its own copy. Its
/// creator removes it, with its files, when it stops.
struct SharedDirectory {
    let path: String

    /// Makes one under ``parent``; nil when the system refuses (workers then each hold their own index).
    init?() {
        var template = Array((Self.parent + "/scribes-shared.XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { return nil }
        path = String(cString: made)
    }

    /// systemd's `RuntimeDirectory` (its first, when it names several) when there is one, else `TMPDIR`, else `/tmp`.
    static var parent: String {
        if let runtime = getenv("RUNTIME_DIRECTORY").map({ String(cString: $0).prefix { $0 != ":" } }), !runtime.isEmpty { return String(runtime) }
        if let temporary = getenv("TMPDIR").map({ String(cString: $0) }), !temporary.isEmpty { return temporary }
        return "/tmp"
    }

    /// Removes the directory and the files in it.
    func remove() {
        if let directory = opendir(path) {
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
                if name != "." && name != ".." { unlink(path + "/" + name) }
            }
            closedir(directory)
        }
        rmdir(path)
    }
}
