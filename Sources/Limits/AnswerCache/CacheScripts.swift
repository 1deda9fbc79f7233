import Primitives
import RedisClient

/// The answer cache's keys: an entry is `cache:answer:{digest}`, where the
/// digest is the SHA-1 of the user id and the query's identity, and its value
/// is the data versions it was built on (`{notes version} {library
/// version}`), a newline and the answer. Changing a version makes every entry
/// built on the old data a miss, without a scan; those entries are replaced
/// by the next answer or expire with their TTL. A version is a fresh
/// `{ms}.{counter}` stamp, created when missing, so a version key that is
/// lost (flushed, evicted) never brings back an older value.
public enum CacheKeys {
    public static let answerPrefix = "cache:answer:"
    public static let lockPrefix = "cache:lock:"
    public static func notesVersion(_ userID: Int) -> String { "cache:version:notes:\(userID)" }
    public static let libraryVersion = "cache:version:library"
    /// The counter that makes each version stamp unique.
    static let versionCounter = "cache:version:counter"
    /// The channel a leader publishes `{digest}\n{versions}\n{answer}` on (`{digest}\n`: it failed).
    public static let channel = "cache:answers"
    /// How long a leader's lock lives unless renewed (every third of it while it computes).
    public static let lockDuration = Duration.seconds(5)

    /// The entry's digest for `userID` asking the query `identity`.
    static func digest(userID: Int, identity: String) -> String {
        RedisScript.hexSHA1("\(userID)\n\(identity)")
    }
}

/// The answer cache consulted inside a script (the admission, or
/// ``LookupCall`` with limiting off): the keys it declares and its arguments.
struct CacheConsultation: Sendable {
    let userID: Int
    let request: CacheRequest
    let digest: String

    init(userID: Int, request: CacheRequest) {
        self.userID = userID
        self.request = request
        self.digest = CacheKeys.digest(userID: userID, identity: request.identity)
    }

    /// The notes and library versions, the version counter, the entry and its lock.
    var keys: [String] {
        [CacheKeys.notesVersion(userID), CacheKeys.libraryVersion, CacheKeys.versionCounter, CacheKeys.answerPrefix + digest, CacheKeys.lockPrefix + digest]
    }

    /// The mode and the lock's lifetime (ms).
    var arguments: [String] { [String(request.mode.rawValue), String(CacheKeys.lockDuration.milliseconds)] }
}

/// What a consultation found, as the scripts reply it.
enum CacheFinding: Sendable, Equatable {
    case hit(entry: String, ttlMilliseconds: Int)
    /// A miss whose lock this request took; `versions` is what its answer is built on.
    case lead(versions: String)
    case wait(versions: String)
    case refresh(versions: String)

    /// The finding at the end of a script's reply: nothing (not consulted), or
    /// {'hit', entry, pttl}, {'lead' | 'wait' | 'refresh', versions}.
    static func decode(_ values: ArraySlice<RESPValue>) throws(RedisError) -> CacheFinding? {
        guard let kind = values.first?.string else { return nil }
        let rest = Array(values.dropFirst())
        switch (kind, rest.first?.string, rest.count) {
        case ("hit", let entry?, 2): if let ttl = rest[1].int { return .hit(entry: entry, ttlMilliseconds: ttl) }
        case ("lead", let versions?, 1): return .lead(versions: versions)
        case ("wait", let versions?, 1): return .wait(versions: versions)
        case ("refresh", let versions?, 1): return .refresh(versions: versions)
        default: break
        }
        throw RedisError(code: .protocolError, message: "unexpected answer cache reply")
    }

    /// The request's state: `token` fences the lock when it leads.
    func state(digest: String, token: String) -> CacheState {
        switch self {
        case .hit(let entry, let ttl): .hit(entry: entry, ttlMilliseconds: ttl)
        case .lead(let versions): .lead(CacheSlot(digest: digest, versions: versions, token: token))
        case .wait(let versions): .wait(CacheSlot(digest: digest, versions: versions, token: nil))
        case .refresh(let versions): .refresh(CacheSlot(digest: digest, versions: versions, token: nil))
        }
    }
}

enum CacheScripts {
    /// Needs ``LimiterScripts/clock``. `consult(first, mode, token, lockMs)`
    /// reads the cache keys ``CacheConsultation/keys`` from KEYS[first]:
    /// nil (mode 0), or {'hit', answer, pttl}, {'lead', versions} (the lock is
    /// ours), {'wait', versions}, {'refresh', versions}. An entry built on
    /// other versions is a miss.
    static let library = """
        local function consult(first, mode, token, lockMs)
            if mode == 0 then return nil end
            local counter, entry, lock = KEYS[first + 2], KEYS[first + 3], KEYS[first + 4]
            local function version(key)
                local v = redis.call('GET', key)
                if v then return v end
                v = now .. '.' .. redis.call('INCR', counter)
                redis.call('SET', key, v)
                return v
            end
            local versions = version(KEYS[first]) .. ' ' .. version(KEYS[first + 1])
            if mode == 2 then return {'refresh', versions} end
            local header = versions .. '\\n'
            local stored = redis.call('GET', entry)
            if stored and string.sub(stored, 1, #header) == header then
                return {'hit', string.sub(stored, #header + 1), redis.call('PTTL', entry)}
            end
            if redis.call('SET', lock, token, 'NX', 'PX', lockMs) then return {'lead', versions} end
            return {'wait', versions}
        end
        """
}

/// The cache alone (limiting off). KEYS: the consultation's. ARGV: clock
/// offset, mode, lock ms, lock token. Replies the finding.
struct LookupCall: RedisScriptCall {
    let consultation: CacheConsultation
    let token: String

    var keys: [String] { consultation.keys }
    var arguments: [String] { ["0"] + consultation.arguments + [token] }

    static func decode(_ reply: RESPValue) throws(RedisError) -> CacheFinding? {
        guard let values = reply.array else { throw unexpectedReply }
        return try CacheFinding.decode(values[...])
    }

    static let script = RedisScript(LimiterScripts.clock + "\n" + CacheScripts.library + "\n" + """
        return consult(1, tonumber(ARGV[2]), ARGV[4], ARGV[3]) or {}
        """)
}

/// Stores an answer (unless `ttl` is 0: publish only, too large to keep),
/// releases the lock if `token` still holds it, and tells the waiters.
/// KEYS: entry, lock. ARGV: digest, value, ttl ms, token ('' none).
struct StoreCall: RedisScriptCall {
    let slot: CacheSlot
    /// `{versions}\n{answer}`.
    let value: String
    let ttl: Duration

    var keys: [String] { [CacheKeys.answerPrefix + slot.digest, CacheKeys.lockPrefix + slot.digest] }
    var arguments: [String] { [slot.digest, value, String(ttl.milliseconds), slot.token ?? ""] }

    static func decode(_ reply: RESPValue) throws(RedisError) -> Int { try integer(reply) }

    static let script = RedisScript("""
        local digest, value, ttl, token = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
        if ttl > 0 then redis.call('SET', KEYS[1], value, 'PX', ttl) end
        if token ~= '' and redis.call('GET', KEYS[2]) == token then redis.call('DEL', KEYS[2]) end
        return redis.call('PUBLISH', '\(CacheKeys.channel)', digest .. '\\n' .. value)
        """)
}

/// Releases the lock `token` holds and tells the waiters that the leader
/// failed. KEYS: lock. ARGV: digest, token. 0 when the lock was not ours.
struct AbandonCall: RedisScriptCall {
    let digest: String
    let token: String

    var keys: [String] { [CacheKeys.lockPrefix + digest] }
    var arguments: [String] { [digest, token] }

    static func decode(_ reply: RESPValue) throws(RedisError) -> Int { try integer(reply) }

    static let script = RedisScript("""
        if redis.call('GET', KEYS[1]) ~= ARGV[2] then return 0 end
        redis.call('DEL', KEYS[1])
        return redis.call('PUBLISH', '\(CacheKeys.channel)', ARGV[1] .. '\\n')
        """)
}

/// Extends the lock while `token` holds it. KEYS: lock. ARGV: token, ms. Whether it was still ours.
struct RenewLockCall: RedisScriptCall {
    let digest: String
    let token: String

    var keys: [String] { [CacheKeys.lockPrefix + digest] }
    var arguments: [String] { [token, String(CacheKeys.lockDuration.milliseconds)] }

    static func decode(_ reply: RESPValue) throws(RedisError) -> Bool { try integer(reply) == 1 }

    static let script = RedisScript("""
        if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
        return redis.call('PEXPIRE', KEYS[1], ARGV[2])
        """)
}

/// Gives a version key a fresh stamp. KEYS: the counter, the version key. ARGV: clock offset.
struct BumpCall: RedisScriptCall {
    let versionKey: String

    var keys: [String] { [CacheKeys.versionCounter, versionKey] }
    var arguments: [String] { ["0"] }

    static func decode(_ reply: RESPValue) throws(RedisError) {
        guard reply.int == 1 else { throw unexpectedReply }
    }

    static let script = RedisScript(LimiterScripts.clock + "\n" + """
        redis.call('SET', KEYS[2], now .. '.' .. redis.call('INCR', KEYS[1]))
        return 1
        """)
}
