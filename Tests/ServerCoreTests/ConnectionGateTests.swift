import Logging
import NIOCore
import NIOEmbedded
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import ServerCore

/// The listener's accepts held back at the connection limit, and resumed as connections close.
@Suite struct ConnectionGateTests {
    /// Counts the `read`s that get past the gate to the socket: each would accept.
    final class AcceptCounter: ChannelOutboundHandler {
        typealias OutboundIn = Never
        var reads = 0
        func read(context: ChannelHandlerContext) {
            reads += 1
            context.read()
        }
    }

    /// A descriptor limit a test changes, as `prlimit` does.
    final class DescriptorLimit: Sendable {
        let value: Atomic<Int>
        init(connections: Int) { value = Atomic(connections * ConnectionLimit.descriptorsPerConnection) }
    }

    /// A listener with `limit` and nothing else counted.
    func listener(_ limit: DescriptorLimit) throws -> (EmbeddedChannel, AcceptCounter, ConnectionLimit) {
        let connections = ConnectionLimit(reserve: 0, baseline: 0, limit: { limit.value.load(ordering: .relaxed) }, logger: Logger(label: "test"))
        let counter = AcceptCounter()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(counter)
        try channel.pipeline.syncOperations.addHandler(ConnectionGate(connections: connections))
        return (channel, counter, connections)
    }

    @Test func atTheLimitAcceptsWaitUntilAConnectionCloses() throws {
        let (listener, counter, connections) = try listener(DescriptorLimit(connections: 2))
        listener.read()
        #expect(counter.reads == 1)
        let accepted = [EmbeddedChannel(loop: listener.embeddedEventLoop), EmbeddedChannel(loop: listener.embeddedEventLoop)]
        for connection in accepted { try listener.writeInbound(connection as any Channel) }
        #expect(connections.openConnections == 2)
        listener.read()
        #expect(counter.reads == 1, "the limit holds the accept back")
        _ = try accepted[0].finish()
        listener.embeddedEventLoop.run()
        #expect(connections.openConnections == 1)
        #expect(counter.reads == 2, "a connection closed: accepting resumes")
        listener.read()
        #expect(counter.reads == 3)
    }

    @Test func theLimitFollowsTheDescriptorLimit() throws {
        let limit = DescriptorLimit(connections: 1)
        let (listener, counter, connections) = try listener(limit)
        try listener.writeInbound(EmbeddedChannel() as any Channel)
        listener.read()
        #expect(counter.reads == 0)
        limit.value.store(2 * ConnectionLimit.descriptorsPerConnection, ordering: .relaxed)  // raised with prlimit: read at the next decision
        #expect(connections.capacity == 2)
        listener.read()
        #expect(counter.reads == 1)
    }

    @Test func openDescriptorsCountsThisProcesssTable() throws {
        let before = ConnectionLimit.openDescriptors()
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        #expect(ConnectionLimit.openDescriptors() == before + 2)
        close(ends[0])
        close(ends[1])
        #expect(ConnectionLimit.openDescriptors() == before)
    }
}
