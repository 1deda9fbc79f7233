import Foundation
import Testing
import TestSupport

/// A NOTIFY_SOCKET of the test's own: a Unix datagram socket collecting what
/// the supervisor sends. Like systemd it reads continuously (on a thread of its
/// own): sd_notify blocks once the socket's small datagram queue is full.
final class NotifySocket: @unchecked Sendable {
    let path: String
    let descriptor: CInt
    private let lock = NSLock()
    private var received: [String] = []

    init() throws {
        path = try ProcessRunner.emptyDirectory() + "/notify.sock"
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { bytes in
            for (index, byte) in path.utf8.enumerated() { bytes[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw TestEnvironmentError(message: "cannot bind \(path)") }
        let socket = descriptor
        Thread.detachNewThread { [weak self] in
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = recv(socket, &buffer, buffer.count, 0)
                guard count > 0, let self else { return }
                self.lock.withLock { self.received.append(String(decoding: buffer[0..<count], as: UTF8.self)) }
            }
        }
    }

    /// Every datagram received so far, in order.
    var messages: [String] { lock.withLock { received } }

    deinit { shutdown(descriptor, Int32(SHUT_RDWR)); close(descriptor) }
}

@Suite struct SystemdNotifyTests {
    @Test func readyOnlyAfterEveryWorkerThenStatusWatchdogAndStopping() throws {
        let notify = try NotifySocket()
        let appliance = try Appliance(environment: ["WORKERS": "2", "NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"])
        try waitUntil("READY=1 arrives", timeout: .seconds(5)) {
            return notify.messages.contains { $0.contains("READY=1") }
        }
        let ready = try #require(notify.messages.first { $0.contains("READY=1") })
        #expect(ready.contains("STATUS=2/2 workers ready"))
        // Both workers had reported ready before READY=1 was sent.
        let log = appliance.log
        let readyLines = log.split(separator: "\n").filter { $0.contains("worker ready") }
        #expect(readyLines.count == 2)
        try waitUntil("WATCHDOG=1 arrives", timeout: .seconds(3)) {
            return notify.messages.contains("WATCHDOG=1")
        }
        // Workers do not inherit systemd's notification variables.
        for worker in appliance.workerPIDs() {
            let environment = (try? String(contentsOfFile: "/proc/\(worker)/environ", encoding: .utf8)) ?? ""
            #expect(!environment.contains("NOTIFY_SOCKET="))
            #expect(!environment.contains("WATCHDOG_USEC="))
        }
        let (status, _) = appliance.terminate()
        #expect(status == 0)
        try waitUntil("STOPPING=1 arrives", timeout: .seconds(1)) { notify.messages.contains("STOPPING=1") }
    }
}
