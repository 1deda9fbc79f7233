import Crypto
import Primitives

/// A Lua script run with EVALSHA; its SHA-1 is computed once, here.
public struct RedisScript: Sendable {
    public let source: String
    /// Lowercase hex SHA-1 of `source`, as Redis names cached scripts.
    public let sha1: String

    public init(_ source: String) {
        self.source = source
        self.sha1 = Self.hexSHA1(source)
    }

    /// Lowercase hex SHA-1 of `text`'s UTF-8 bytes (Redis's `redis.sha1hex`).
    public static func hexSHA1(_ text: String) -> String {
        Hex.encode(Insecure.SHA1.hash(data: Array(text.utf8)))
    }
}

/// One call of a Lua script, as valkey-swift types each command: the script,
/// every key it touches (declared in KEYS, which is what Redis Cluster and
/// proxies route by, and what makes a script's footprint readable), its
/// arguments and how its reply reads.
public protocol RedisScriptCall: Sendable {
    associatedtype Reply: Sendable
    static var script: RedisScript { get }
    /// Every key the script reads or writes.
    var keys: [String] { get }
    var arguments: [String] { get }
    /// The reply decoded; throws `.protocolError` on a reply of another shape.
    static func decode(_ reply: RESPValue) throws(RedisError) -> Reply
}

extension RedisScriptCall {
    /// The error for a reply that `decode` cannot read.
    public static var unexpectedReply: RedisError {
        RedisError(code: .protocolError, message: "unexpected reply from \(Self.self)")
    }

    /// An integer reply.
    public static func integer(_ reply: RESPValue) throws(RedisError) -> Int {
        guard let value = reply.int else { throw unexpectedReply }
        return value
    }
}

extension RedisClient {
    /// Runs `call`'s script (EVALSHA, EVAL when Redis lost it) and decodes its reply.
    public func run<Call: RedisScriptCall>(_ call: Call, timeout: Duration, whenStalled: StallPolicy = .failFast) async throws(RedisError) -> Call.Reply {
        try Call.decode(try await run(Call.script, keys: call.keys, arguments: call.arguments, timeout: timeout, whenStalled: whenStalled))
    }
}
