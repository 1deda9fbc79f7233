/// Lowercase hexadecimal text of bytes: digests, random ids.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    /// Two digits per byte.
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var text: [UInt8] = []
        text.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}

/// Random identifiers: admission ids, lock and probe tokens, request ids.
public enum RandomID {
    /// `words` random 64-bit words as 16 lowercase hex digits each (`words: 2`: 128 bits, 32 digits).
    public static func hex(words: Int = 1) -> String {
        var generator = SystemRandomNumberGenerator()
        return Hex.encode((0..<words).flatMap { _ in withUnsafeBytes(of: (generator.next() as UInt64).bigEndian, Array.init) })
    }
}
