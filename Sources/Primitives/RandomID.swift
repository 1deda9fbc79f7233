/// Random identifiers: admission ids, lock and probe tokens, request ids.
public enum RandomID {
    /// `words` random 64-bit words as 16 lowercase hex digits each (`words: 2`: 128 bits, 32 digits).
    public static func hex(words: Int = 1) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<words).map { _ in
            let hex = String(generator.next() as UInt64, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
    }
}
