import NIOCore
import NIOPosix
@testable import RedisClient
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

@Suite struct RedisConnectionTests {
    /// TCP_NODELAY belongs to IPPROTO_TCP. Set at SOL_SOCKET its number (1) is
    /// SO_DEBUG, which needs CAP_NET_ADMIN: root succeeded, the packaged
    /// service's user got EACCES and never reached Redis.
    @Test func noDelayIsSetAtTheTCPLevelAndSODebugIsNot() async throws {
        let connection = try await RedisConnection.connect(
            host: "127.0.0.1", port: try TestEnvironment.redisPort, password: nil, database: 0,
            timeout: .seconds(2), group: MultiThreadedEventLoopGroup.singleton
        ).get()
        defer { connection.close() }
        let noDelay = try await connection.channel.getOption(.tcpOption(.tcp_nodelay)).get()
        let debug = try await connection.channel.getOption(.socketOption(NIOBSDSocket.Option(rawValue: SO_DEBUG))).get()
        #expect(noDelay != 0)
        #expect(debug == 0)
    }
}
