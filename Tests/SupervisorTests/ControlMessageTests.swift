import Testing

@testable import Supervisor

/// The control channel's messages read back as they were sent, and what is
/// not one of them reads as nothing (a worker ignores it).
@Suite struct ControlMessageTests {
    static let exposition = "# TYPE requests_total counter\nrequests_total{route=\"/a b\"} 3\n\nlast line without newline"

    @Test(arguments: [
        WorkerContract.Message.ready, .heartbeat, .recycle, .drain, .metricsRequest(id: 0), .metricsRequest(id: .max),
        .metricsReport(gather: 7, exposition: exposition), .metricsReport(gather: 0, exposition: ""), .cover(slot: 3), .uncover(slot: 0),
        .metricsCollect(gather: 42), .metrics(id: 9, exposition: exposition),
    ])
    func everyMessageReadsBackAsSent(message: WorkerContract.Message) {
        #expect(WorkerContract.Message(encoded: message.encoded) == message, "\(message.encoded)")
    }

    @Test(arguments: ["", "ready 1", "cover", "cover x", "metrics-request -1", "metrics-report", "hello", "drain\n", "heartbeat now"])
    func whatIsNotAMessageReadsAsNothing(text: String) {
        #expect(WorkerContract.Message(encoded: text) == nil, "\(text)")
    }
}
