import Crypto

/// A Lua script run with EVALSHA; its SHA-1 is computed once, here.
public struct RedisScript: Sendable {
    public let source: String
    /// Lowercase hex SHA-1 of `source`, as Redis names cached scripts.
    public let sha1: String

    public init(_ source: String) {
        self.source = source
        self.sha1 = Insecure.SHA1.hash(data: Array(source.utf8)).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}
