import CurlHTTP
import Logging
import ServiceLifecycle
import Settings
import Synchronization

/// OTel's batch span processor and OTLP/HTTP exporter in one service: ended
/// spans wait in a bounded queue (a full queue drops, and says so once per
/// export) and are posted every `OTEL_BSP_SCHEDULE_DELAY`, or as soon as a
/// batch is full. On graceful shutdown it exports everything still queued,
/// then returns — the worker runs it last, once every span has ended.
public final class SpanBatcher: Service {
    struct Queue {
        var spans: [RecordedSpan] = []
        var dropped = 0
        var wakeups: AsyncStream<Void>.Continuation?
    }

    let settings: ObservabilitySettings
    let url: String
    let encoding: OTLPEncoding
    let logger: Logger
    private let queue = Mutex(Queue())
    private let failing = Atomic<Bool>(false)

    init(settings: ObservabilitySettings, url: String, logger: Logger) {
        self.settings = settings
        self.url = url
        encoding = OTLPEncoding(settings: settings)
        self.logger = logger
    }

    func record(_ span: RecordedSpan) {
        let wake = queue.withLock { queue -> AsyncStream<Void>.Continuation? in
            guard queue.spans.count < settings.batchQueueSize else {
                queue.dropped += 1
                return nil
            }
            queue.spans.append(span)
            return queue.spans.count >= settings.batchExportSize ? queue.wakeups : nil
        }
        wake?.yield()
    }

    /// Exports what is queued now rather than at the next tick.
    func wake() { queue.withLock(\.wakeups)?.yield() }

    public func run() async {
        let client = CurlHTTPClient()
        defer { client.shutdown() }
        let (wakeups, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        queue.withLock { $0.wakeups = continuation }
        let delay = Duration.milliseconds(settings.batchDelayMilliseconds)
        let ticks = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: delay)
                continuation.yield()
            }
        }
        defer { ticks.cancel() }
        await withGracefulShutdownHandler {
            for await _ in wakeups { await exportQueued(client) }
        } onGracefulShutdown: {
            continuation.finish()
        }
        await exportQueued(client)
    }

    /// Posts the queue in batches of at most `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`.
    func exportQueued(_ client: CurlHTTPClient) async {
        while true {
            let (batch, dropped) = queue.withLock { queue in
                let batch = Array(queue.spans.prefix(settings.batchExportSize))
                queue.spans.removeFirst(batch.count)
                defer { queue.dropped = 0 }
                return (batch, queue.dropped)
            }
            if dropped > 0 { logger.warning("Dropped spans: the export queue was full", metadata: ["spans": "\(dropped)"]) }
            guard !batch.isEmpty else { return }
            await export(batch, client: client)
        }
    }

    func export(_ batch: [RecordedSpan], client: CurlHTTPClient) async {
        let request = CurlHTTPClient.Request(
            url: url, headers: [("Content-Type", encoding.contentType)] + settings.otlpHeaders.map { ($0.key, $0.value) },
            body: encoding.request(batch), totalTimeout: .milliseconds(settings.otlpTimeoutMilliseconds), maxResponseBytes: 64 << 10)
        let problem: String?
        do {
            let response = try await client.execute(request)
            problem = (200..<300).contains(response.status) ? nil : "the collector answered \(response.status)"
        } catch {
            problem = "\(error)"
        }
        // One line when exports start failing and one when they recover, not one per batch.
        if let problem {
            if !failing.exchange(true, ordering: .relaxed) {
                logger.warning("Span export failed; spans are dropped until it recovers", metadata: ["url": "\(url)", "error": "\(problem)", "spans": "\(batch.count)"])
            }
        } else if failing.exchange(false, ordering: .relaxed) {
            logger.notice("Span export recovered", metadata: ["url": "\(url)"])
        }
    }
}
