import NIOCore
import NIOEmbedded
import Testing

@testable import RedisClient

/// Replies matched to commands on one pipelined connection, on an
/// `EmbeddedChannel` with the loop's clock moved by hand.
@Suite struct RedisChannelHandlerTests {
    final class Connection {
        let channel = EmbeddedChannel()
        let stalled = StallFlag()

        init() throws {
            try channel.pipeline.syncOperations.addHandler(RedisChannelHandler(stalled: stalled))
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379)).wait()
        }

        /// Sends a command; its reply (or failure) is in the returned future.
        func send(_ command: String, timeout: TimeAmount = .seconds(1)) -> EventLoopFuture<RESPValue> {
            let promise = channel.eventLoop.makePromise(of: RESPValue.self)
            channel.write(RedisRequest(bytes: ByteBuffer(string: command), promise: promise, timeout: timeout), promise: nil)
            return promise.futureResult
        }

        func reply(_ bytes: String) throws { try channel.writeInbound(ByteBuffer(string: bytes)) }

        func result(_ future: EventLoopFuture<RESPValue>) -> Result<RESPValue, any Error>? {
            var result: Result<RESPValue, any Error>?
            future.whenComplete { result = $0 }
            channel.embeddedEventLoop.run()
            return result
        }
    }

    @Test func repliesAreMatchedToCommandsInOrderEvenWhenSplitAcrossReads() throws {
        let redis = try Connection()
        let first = redis.send("PING"), second = redis.send("INCR n")
        try redis.reply("+PO")
        #expect(redis.result(first) == nil, "half a reply completes nothing")
        try redis.reply("NG\r\n:5\r\n")
        #expect(try redis.result(first)?.get() == .simpleString("PONG"))
        #expect(try redis.result(second)?.get() == .integer(5))
    }

    @Test func aLateReplyIsDroppedForTheCommandThatTimedOutNotGivenToTheNext() throws {
        let redis = try Connection()
        let slow = redis.send("DEBUG SLEEP 2", timeout: .milliseconds(500))
        redis.channel.embeddedEventLoop.advanceTime(by: .milliseconds(500))
        guard case .failure(let error as RedisError) = redis.result(slow) else { Issue.record("not timed out"); return }
        #expect(error.code == .timeout)
        #expect(redis.stalled.isSet, "the oldest command is overdue: the pool avoids this connection")
        let next = redis.send("GET k")
        try redis.reply("+OK\r\n")  // the slow command's reply, at last
        #expect(!redis.stalled.isSet, "the first reply ends the stall")
        #expect(redis.result(next) == nil, "the late reply was not the next command's")
        try redis.reply("$1\r\nv\r\n")
        #expect(try redis.result(next)?.get() == .bulkString(Array("v".utf8)))
    }

    @Test func aReplyWithNoCommandWaitingClosesTheConnection() throws {
        let redis = try Connection()
        try redis.reply("+OK\r\n")
        #expect(!redis.channel.isActive)
    }

    @Test func aClosedConnectionFailsWhatWaitsAndWhatComesAfter() throws {
        let redis = try Connection()
        let waiting = redis.send("GET k")
        redis.channel.pipeline.fireChannelInactive()
        guard case .failure(let error as RedisError) = redis.result(waiting) else { Issue.record("not failed"); return }
        #expect(error.code == .connectionClosed)
        guard case .failure(let later as RedisError) = redis.result(redis.send("GET k")) else { Issue.record("not failed"); return }
        #expect(later.code == .connectionClosed)
    }
}
