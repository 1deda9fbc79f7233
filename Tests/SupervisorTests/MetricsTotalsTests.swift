import Foundation
import Testing

@testable import Supervisor

@Suite struct MetricsTotalsTests {
    static let counter = """
        # HELP requests_total Requests.
        # TYPE requests_total counter
        requests_total{route="/a"} 3
        requests_total{route="/b"} 1
        # TYPE in_flight gauge
        in_flight 2
        # TYPE latency histogram
        latency_bucket{le="1.0"} 4
        latency_sum 2.5
        latency_count 4

        """

    @Test func sumsLiveWorkersAndKeepsOnlyCumulativeSeriesOfExitedOnes() {
        var totals = MetricsTotals()
        totals.record(Self.counter, from: 10)
        totals.record(Self.counter.replacingOccurrences(of: "} 3", with: "} 5"), from: 11)
        var text = totals.exposition(appending: "")
        #expect(text.contains(#"requests_total{route="/a"} 8"#))
        #expect(text.contains("in_flight 4"))
        #expect(text.contains("latency_sum 5"))

        totals.retire(10)
        text = totals.exposition(appending: "extra 1\n")
        #expect(text.contains(#"requests_total{route="/a"} 8"#), "an exited worker's counters stay")
        #expect(text.contains("latency_count 8"), "so do its histograms")
        #expect(text.contains("in_flight 2"), "but not its gauges")
        #expect(text.hasSuffix("extra 1\n"))
        // Descriptions appear once, before their family's samples.
        #expect(text.components(separatedBy: "# TYPE requests_total counter").count == 2)
        #expect(text.range(of: "# TYPE requests_total counter")!.lowerBound < text.range(of: "requests_total{")!.lowerBound)
    }

    @Test func aNewerReportReplacesTheOlderOne() {
        var totals = MetricsTotals()
        totals.record(Self.counter, from: 10)
        totals.record(Self.counter.replacingOccurrences(of: "} 3", with: "} 7"), from: 10)
        #expect(totals.exposition(appending: "").contains(#"requests_total{route="/a"} 7"#))
    }

    @Test(arguments: [
        WorkerContract.Message.ready, .heartbeat, .recycle, .drain, .cover(slot: 3), .uncover(slot: 0),
        .metricsRequest(id: 42), .metricsCollect(gather: 7),
        .metricsReport(gather: 7, exposition: "a 1\nb{x=\"y z\"} 2\n"), .metrics(id: 42, exposition: "# HELP a A.\na 1\n"),
    ])
    func controlMessagesRoundTrip(message: WorkerContract.Message) {
        #expect(WorkerContract.Message(encoded: message.encoded) == message)
    }

    @Test func unknownControlMessagesAreRejected() {
        #expect(WorkerContract.Message(encoded: "reboot") == nil)
        #expect(WorkerContract.Message(encoded: "cover") == nil)
        #expect(WorkerContract.Message(encoded: "cover x") == nil)
    }
}
