import Logging
import NIOPosix
import RedisClient
import Testing
import TestSupport

func makeClient(port: Int, maxConnections: Int = 2, password: String? = nil, database: Int = 0) -> RedisClient {
    RedisClient(
        configuration: .init(host: "127.0.0.1", port: port, password: password, database: database, maxConnections: maxConnections),
        logger: Logger(label: "test"))
}

func uniqueKey(_ name: String) -> String { "test:\(name):\(UInt64.random(in: 0...UInt64.max))" }

@Suite struct RedisClientTests {
    @Test func thousandConcurrentCallersOnAPoolOfTwoAllSucceed() async throws {
        let client = makeClient(port: try TestEnvironment.redisPort, maxConnections: 2)
        defer { client.shutdown() }
        let key = uniqueKey("counter")
        let replies = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<1000 {
                group.addTask { try await client.send(["INCR", key], timeout: .seconds(10)).int ?? -1 }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        // Every INCR ran once and every caller got its own reply.
        #expect(Set(replies) == Set(1...1000))
        #expect(client.connectionCount <= 2)
        let total = try await client.send(["GET", key], timeout: .seconds(5))
        #expect(total.int == 1000)
    }

    @Test func errorReplyIsThrownAsServerError() async throws {
        let client = makeClient(port: try TestEnvironment.redisPort)
        defer { client.shutdown() }
        let key = uniqueKey("text")
        try await client.send(["SET", key, "not a number"], timeout: .seconds(5))
        let error = await #expect(throws: RedisError.self) { try await client.send(["INCR", key], timeout: .seconds(5)) }
        #expect(error?.code == .serverError)
        #expect(error?.message.hasPrefix("ERR") == true)
        // The connection stays in step: the next reply is the next command's.
        let reply = try await client.send(["ECHO", "still in step"], timeout: .seconds(5))
        #expect(reply.string == "still in step")
    }

    @Test func nilArrayAndBinaryRepliesDecode() async throws {
        let client = makeClient(port: try TestEnvironment.redisPort)
        defer { client.shutdown() }
        let key = uniqueKey("list")
        #expect(try await client.send(["GET", key], timeout: .seconds(5)) == .null)
        try await client.send(["RPUSH", key, "a", "grâce", ""], timeout: .seconds(5))
        let list = try await client.send(["LRANGE", key, "0", "-1"], timeout: .seconds(5))
        #expect(list.array?.map(\.string) == ["a", "grâce", ""])
    }

    @Test func evalshaWorksAfterScriptFlush() async throws {
        let client = makeClient(port: try TestEnvironment.redisPort)
        defer { client.shutdown() }
        let script = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
        let key = uniqueKey("script")
        #expect(try await client.run(script, keys: [key], arguments: ["2"], timeout: .seconds(5)).int == 2)
        #expect(try await client.run(script, keys: [key], arguments: ["3"], timeout: .seconds(5)).int == 5)
        try await client.send(["SCRIPT", "FLUSH"], timeout: .seconds(5))
        #expect(try await client.run(script, keys: [key], arguments: ["4"], timeout: .seconds(5)).int == 9)
        let exists = try await client.send(["SCRIPT", "EXISTS", script.sha1], timeout: .seconds(5))
        #expect(exists.array == [.integer(1)])
    }

    @Test func authAndSelectAreSentOnConnect() async throws {
        let redis = try PrivateRedis(password: "s3cret-pass")
        defer { withExtendedLifetime(redis) {} }  // its deinit stops the server
        let client = makeClient(port: redis.port, password: "s3cret-pass", database: 3)
        defer { client.shutdown() }
        try await client.send(["SET", "selected", "yes"], timeout: .seconds(2))
        #expect(try redis.cli(["-n", "3", "GET", "selected"]).contains("yes"))
        let wrong = makeClient(port: redis.port, password: "wrong")
        defer { wrong.shutdown() }
        let error = await #expect(throws: RedisError.self) { try await wrong.send(["PING"], timeout: .seconds(2)) }
        #expect(error?.code == .connectionFailed)
    }

    @Test func unreachableRedisFailsFastWithoutHanging() async throws {
        let client = makeClient(port: try freeLoopbackPort())
        defer { client.shutdown() }
        let start = ContinuousClock.now
        for _ in 0..<20 {
            let error = await #expect(throws: RedisError.self) { try await client.send(["PING"], timeout: .seconds(5)) }
            #expect(error?.code == .connectionFailed)
        }
        #expect(ContinuousClock.now - start < .seconds(2))
    }

    @Test func perCallTimeoutFiresWhileRedisIsPaused() async throws {
        let redis = try PrivateRedis()
        defer { withExtendedLifetime(redis) {} }  // its deinit stops the server
        let client = makeClient(port: redis.port)
        defer { client.shutdown() }
        try await client.send(["PING"], timeout: .seconds(2))
        try redis.cli(["CLIENT", "PAUSE", "3000", "ALL"])
        let start = ContinuousClock.now
        let error = await #expect(throws: RedisError.self) { try await client.send(["ECHO", "late"], timeout: .milliseconds(200)) }
        let waited = ContinuousClock.now - start
        // Without the deadline the reply would arrive when the pause ends, 3 s later.
        #expect(error?.code == .timeout)
        #expect(waited < .milliseconds(2500))
        // While that reply is owed, calls fail at once instead of each waiting out its deadline.
        let failing = ContinuousClock.now
        let stalled = await #expect(throws: RedisError.self) { try await client.send(["PING"], timeout: .seconds(5)) }
        #expect(stalled?.code == .timeout)
        #expect(ContinuousClock.now - failing < .milliseconds(500))
        // A call that queues behind the stall is sent anyway and answered when Redis resumes.
        let queued = try await client.send(["ECHO", "queued"], timeout: .seconds(5), whenStalled: .queue)
        #expect(queued.string == "queued")
        #expect(ContinuousClock.now - start > .seconds(2), "answered after the pause")
        // After the pause the late reply is dropped and the next caller gets its own.
        var reply: RESPValue?
        while reply == nil, ContinuousClock.now - start < .seconds(10) {
            reply = try? await client.send(["ECHO", "mine"], timeout: .seconds(5))
            if reply == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(reply?.string == "mine")
    }

    @Test func redisRestartMidLoadIsSurvived() async throws {
        let redis = try PrivateRedis()
        defer { withExtendedLifetime(redis) {} }  // its deinit stops the server
        let client = RedisClient(
            configuration: .init(host: "127.0.0.1", port: redis.port, maxConnections: 2, backoff: .milliseconds(50)...Duration.seconds(1)),
            logger: Logger(label: "test"))
        defer { client.shutdown() }
        try await client.send(["PING"], timeout: .seconds(2))
        let outcomes = try await withThrowingTaskGroup(of: [(ok: Bool, took: Duration)].self) { group in
            // Eight callers send for 6 s while Redis is stopped at 1 s and started again at 2.5 s;
            // with backoff capped at 1 s they reconnect by 4 s.
            let end = ContinuousClock.now + .seconds(6)
            for _ in 0..<8 {
                group.addTask {
                    var outcomes: [(ok: Bool, took: Duration)] = []
                    while ContinuousClock.now < end {
                        let start = ContinuousClock.now
                        let ok = (try? await client.send(["PING"], timeout: .milliseconds(500)))?.string == "PONG"
                        outcomes.append((ok, ContinuousClock.now - start))
                        if !ok { try await Task.sleep(for: .milliseconds(20)) }
                    }
                    return outcomes
                }
            }
            // Stopping and starting block (waitpid, polling): keep them off the cooperative pool the callers run on.
            try await Task.sleep(for: .seconds(1))
            try await NIOThreadPool.singleton.runIfActive { try redis.stop() }
            try await Task.sleep(for: .seconds(1.5))
            try await NIOThreadPool.singleton.runIfActive { try redis.start() }
            return try await group.reduce(into: [[(ok: Bool, took: Duration)]]()) { $0.append($1) }
        }
        for caller in outcomes {
            #expect(caller.contains { !$0.ok }, "the outage was seen")
            #expect(caller.last?.ok == true, "recovered by itself after the restart: \(caller.suffix(5).map { "\($0.ok) \($0.took)" })")
            #expect(caller.allSatisfy { $0.took < .milliseconds(700) }, "no call waited past its deadline: \(caller.map(\.took).max()!) \(caller.filter { !$0.ok }.count) failures of \(caller.count)")
        }
    }
}
