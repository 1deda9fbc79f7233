import RedisClient

extension FuzzHarness {
    /// hiredis's reply reader over any bytes a peer could send: the same
    /// replies (or the same failure) whether the bytes arrive at once or in
    /// two reads, split where the input's first byte says.
    package static let respReader = FuzzHarness(name: "resp-reader") { bytes in
        let whole = replies(to: [bytes[...]])
        let split = bytes.isEmpty ? 0 : Int(bytes[0]) % bytes.count
        let parts = replies(to: [bytes[..<split], bytes[split...]])
        precondition(whole == parts, "split at \(split): \(parts) instead of \(whole)")
    }

    private struct Replies: Equatable {
        var values: [RESPValue] = []
        var failed = false
    }

    private static func replies(to reads: [ArraySlice<UInt8>]) -> Replies {
        let reader = RedisReplyReader()
        var replies = Replies()
        for read in reads {
            read.withUnsafeBytes { reader.feed($0) }
            do {
                while let value = try reader.next() { replies.values.append(value) }
            } catch {
                replies.failed = true
                return replies
            }
        }
        return replies
    }
}
