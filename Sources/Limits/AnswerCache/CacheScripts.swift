import RedisClient

/// The answer cache's keys and Lua: an entry is `cache:answer:{digest}`, where
/// the digest is SHA-1 (Redis's `redis.sha1hex`) of the user id, the user's
/// notes version, the library version and the query's identity. Changing a
/// version makes every entry built on the old data unreachable, without a scan;
/// those entries expire with their TTL. A version is a fresh
/// `{ms}.{counter}` stamp, created when missing, so a version key that is
/// lost (flushed, evicted) never brings back an older value.
public enum CacheKeys {
    public static let answerPrefix = "cache:answer:"
    public static let lockPrefix = "cache:lock:"
    static let notesVersionPrefix = "cache:version:notes:"
    public static func notesVersion(_ userID: Int) -> String { notesVersionPrefix + String(userID) }
    public static let libraryVersion = "cache:version:library"
    /// The counter that makes each version stamp unique.
    static let versionCounter = "cache:version:counter"
    /// The channel a leader publishes `{digest}\n{entry}` on (an empty entry: it failed).
    public static let channel = "cache:answers"
    /// How long a leader's lock lives unless renewed (every third of it while it computes).
    public static let lockDuration = Duration.seconds(5)
}

enum CacheScripts {
    /// Needs `now` from ``LimiterScripts/library``. `consult(mode, user,
    /// identity, token, lockMs)` returns nil (mode 0), or {'hit', digest,
    /// entry, pttl}, {'lead', digest} (the lock is ours), {'wait', digest},
    /// {'refresh', digest}.
    static let library = """
        local function stamp()
            return now .. '.' .. redis.call('INCR', '\(CacheKeys.versionCounter)')
        end
        local function version(key)
            local v = redis.call('GET', key)
            if v then return v end
            v = stamp()
            redis.call('SET', key, v)
            return v
        end
        local function consult(mode, user, identity, token, lockMs)
            if mode == 0 then return nil end
            local digest = redis.sha1hex(user .. '\\n' .. version('\(CacheKeys.notesVersionPrefix)' .. user) .. '\\n' .. version('\(CacheKeys.libraryVersion)') .. '\\n' .. identity)
            if mode == 2 then return {'refresh', digest} end
            local key = '\(CacheKeys.answerPrefix)' .. digest
            local entry = redis.call('GET', key)
            if entry then return {'hit', digest, entry, redis.call('PTTL', key)} end
            if redis.call('SET', '\(CacheKeys.lockPrefix)' .. digest, token, 'NX', 'PX', lockMs) then return {'lead', digest} end
            return {'wait', digest}
        end
        """

    /// Without limiting: ARGV clock offset, mode, user, identity, token, lock ms.
    static let lookup = RedisScript(LimiterScripts.library + "\n" + library + "\n" + """
        local found = consult(tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5], ARGV[6])
        return found or {}
        """)

    /// ARGV: digest, entry, ttl ms (0: publish only, too large to keep), lock token ('' none).
    /// Stores the entry, releases our lock, tells the waiters.
    static let store = RedisScript("""
        local digest, entry, ttl, token = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
        if ttl > 0 then redis.call('SET', '\(CacheKeys.answerPrefix)' .. digest, entry, 'PX', ttl) end
        local lock = '\(CacheKeys.lockPrefix)' .. digest
        if token ~= '' and redis.call('GET', lock) == token then redis.call('DEL', lock) end
        return redis.call('PUBLISH', '\(CacheKeys.channel)', digest .. '\\n' .. entry)
        """)

    /// ARGV: digest, token. Releases our lock and tells the waiters that the leader failed.
    static let abandon = RedisScript("""
        local lock = '\(CacheKeys.lockPrefix)' .. ARGV[1]
        if redis.call('GET', lock) ~= ARGV[2] then return 0 end
        redis.call('DEL', lock)
        return redis.call('PUBLISH', '\(CacheKeys.channel)', ARGV[1] .. '\\n')
        """)

    /// ARGV: digest, token, lock ms. 1 while the lock is still ours.
    static let renew = RedisScript("""
        local lock = '\(CacheKeys.lockPrefix)' .. ARGV[1]
        if redis.call('GET', lock) ~= ARGV[2] then return 0 end
        return redis.call('PEXPIRE', lock, ARGV[3])
        """)

    /// KEYS: the version keys to renew. ARGV: clock offset.
    static let bump = RedisScript(LimiterScripts.library + "\n" + library + "\n" + """
        for _, key in ipairs(KEYS) do redis.call('SET', key, stamp()) end
        return #KEYS
        """)
}
