// The only file that calls hiredis: it formats commands and parses replies;
// the socket belongs to SwiftNIO.
import CHiredis

/// Formats a command as RESP with hiredis (`redisFormatCommandArgv`).
func formatCommand(_ arguments: [[UInt8]]) -> [UInt8] {
    let pointers = arguments.map { argument -> UnsafeMutablePointer<CChar> in
        let copy = UnsafeMutablePointer<CChar>.allocate(capacity: max(argument.count, 1))
        argument.withUnsafeBytes { bytes in
            if let base = bytes.baseAddress { copy.initialize(from: base.assumingMemoryBound(to: CChar.self), count: argument.count) }
        }
        return copy
    }
    defer { pointers.forEach { $0.deallocate() } }
    let lengths = arguments.map(\.count)
    var target: UnsafeMutablePointer<CChar>?
    var argv = pointers.map { UnsafePointer<CChar>?($0) }
    let length = argv.withUnsafeMutableBufferPointer { argv in
        lengths.withUnsafeBufferPointer { argvlen in
            redisFormatCommandArgv(&target, Int32(arguments.count), argv.baseAddress, argvlen.baseAddress)
        }
    }
    guard length > 0, let target else { return [] }
    defer { redisFreeCommand(target) }
    return target.withMemoryRebound(to: UInt8.self, capacity: Int(length)) { Array(UnsafeBufferPointer(start: $0, count: Int(length))) }
}

/// Parses RESP replies from a byte stream with hiredis's `redisReader`.
///
/// Threading rule: owned by one channel handler and used only on its event
/// loop; never shared.
package final class RedisReplyReader {
    private let reader: UnsafeMutablePointer<redisReader>

    package init() {
        // redisReaderCreate only fails when malloc does.
        guard let reader = redisReaderCreate() else { fatalError("hiredis: out of memory creating a reader") }
        self.reader = reader
    }

    deinit {
        redisReaderFree(reader)
    }

    /// Adds bytes read from the socket.
    package func feed(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        redisReaderFeed(reader, base.assumingMemoryBound(to: CChar.self), bytes.count)
    }

    /// The next complete reply, or nil when more bytes are needed.
    /// - Throws: ``RedisError`` `.protocolError` when the stream is not RESP.
    package func next() throws(RedisError) -> RESPValue? {
        var reply: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &reply) == REDIS_OK else {
            throw RedisError(code: .protocolError, message: String(cString: chiredis_reader_error(reader)))
        }
        guard let reply else { return nil }
        defer { freeReplyObject(reply) }
        return Self.value(of: reply.assumingMemoryBound(to: redisReply.self))
    }

    private static func value(of reply: UnsafeMutablePointer<redisReply>) -> RESPValue {
        let node = reply.pointee
        switch node.type {
        case REDIS_REPLY_STRING:
            return .bulkString(bytes(node.str, Int(node.len)))
        case REDIS_REPLY_STATUS:
            return .simpleString(String(decoding: bytes(node.str, Int(node.len)), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            return .error(String(decoding: bytes(node.str, Int(node.len)), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            return .integer(Int(node.integer))
        case REDIS_REPLY_ARRAY:
            return .array((0..<Int(node.elements)).map { value(of: node.element[$0]!) })
        default:
            return .null
        }
    }

    private static func bytes(_ pointer: UnsafeMutablePointer<CChar>?, _ count: Int) -> [UInt8] {
        guard let pointer, count > 0 else { return [] }
        return pointer.withMemoryRebound(to: UInt8.self, capacity: count) { Array(UnsafeBufferPointer(start: $0, count: count)) }
    }
}
