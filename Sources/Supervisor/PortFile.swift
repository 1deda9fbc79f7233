#if canImport(Glibc)
import Glibc
#endif

/// `serve --port-file`: the bound port, written once every worker accepts,
/// to a temporary file beside the path and renamed into place (a reader never
/// sees it half-written).
public enum PortFile {
    public static func write(_ port: Int, to path: String) {
        let temporary = path + ".tmp"
        guard let file = fopen(temporary, "w") else { return }
        fputs("\(port)\n", file)
        fclose(file)
        rename(temporary, path)
    }
}
