import Assistant
import HTTPTypes
import Hummingbird
import Limits
import Logging
import NIOCore
import Primitives

extension HTTPField.Name {
    static let accelBuffering = Self("X-Accel-Buffering")!
}

/// A query answered as server-sent events (`Accept: text/event-stream`, or
/// `"stream": true`): `sources` once retrieval has found them, `text` pieces
/// as the provider produces them, then `metadata` (the JSON answer's
/// `metadata` object) and `end`; an upstream failure after the first event
/// ends the stream with `error` (`{"detail": ...}`). What fails before the
/// first event (a refusal, a retrieval error) is an ordinary JSON error. A
/// cached answer is replayed the same way: its sources, its text in one
/// piece, its metadata.
///
/// The query runs in its own task, cancelled when the connection closes (the
/// client left): the upstream transfer is aborted at once and the call is
/// charged its reservation (see docs/limits.md).
struct QueryStream {
    enum Event: Sendable {
        case sources([AnswerSource])
        case text(String)
        case finished(Result<QueryOutcome<Admission>, any Error>)
    }

    static let contentType = "text/event-stream"

    let routes: QueryRoutes
    let logger: Logger
    let start: ContinuousClock.Instant

    func respond(_ question: Question, userID: Int, directives: CacheDirectives, closed: EventLoopFuture<Void>) async throws -> Response {
        let (events, sink) = AsyncStream<Event>.makeStream()
        let progress = QueryProgress(sources: { sink.yield(.sources($0)) }, text: { sink.yield(.text($0)) })
        let pipeline = routes.pipeline
        let query = Task {
            do {
                sink.yield(.finished(.success(try await pipeline.run(question, userID: userID, directives: directives, progress: progress))))
            } catch {
                sink.yield(.finished(.failure(error)))
            }
            sink.finish()
        }
        closed.whenComplete { _ in query.cancel() }
        var iterator = events.makeAsyncIterator()
        let first = await withTaskCancellationHandler { await iterator.next() } onCancel: { query.cancel() }
        if case .finished(.failure(let error)) = first {
            routes.countFailure(error, since: start)
            throw error
        }
        let (metrics, start, logger) = (routes.metrics, start, logger)
        let headers: HTTPFields = [.contentType: Self.contentType, .cacheControl: "no-cache", .accelBuffering: "no"]
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            var writer = SentEvents(writer: writer)
            var (ended, bytes, chargedIfLeft) = ("disconnected", 0, "nothing")
            metrics.countStreamInFlight(1)
            defer {
                query.cancel()  // a write failed (the client left mid-stream): nobody reads the rest
                metrics.countStreamInFlight(-1)
                Self.logEnd(ended, bytes: bytes, userID: userID, since: start, logger: logger)
            }
            do {
                if let first {
                    chargedIfLeft = Self.charge(ifLeftAt: first, before: chargedIfLeft)
                    try await writer.send(first, start: start, metrics: metrics)
                }
                for await event in events {  // where the first iterator stopped
                    (bytes, chargedIfLeft) = (writer.bytes, Self.charge(ifLeftAt: event, before: chargedIfLeft))
                    try await writer.send(event, start: start, metrics: metrics)
                }
                (ended, bytes) = (writer.ending, writer.bytes)
                try await writer.finish()
            } catch {
                if ended == "disconnected" { metrics.countDisconnectedStream(charged: chargedIfLeft) }
                throw error
            }
        })
    }

    /// What the query is charged if its client leaves once `event` has come:
    /// nothing before the sources (no upstream call yet); from them on (the
    /// upstream call comes next) the reservation; the answer's charge once the
    /// query has finished.
    static func charge(ifLeftAt event: Event, before: String) -> String {
        switch event {
        case .sources, .text: "reservation"
        case .finished(.success): "answer"
        case .finished(.failure): before
        }
    }

    /// A stream's access line, once it has ended: how (`end`, `error`, `disconnected`), how long, how many bytes.
    static func logEnd(_ ended: String, bytes: Int, userID: Int, since start: ContinuousClock.Instant, logger: Logger) {
        guard logger.logLevel <= .info else { return }
        logger.info(
            "request",
            metadata: [
                "method": "POST", "route": "/api/v1/assistant/query", "status": "200",
                "duration_ms": .stringConvertible(AccessLogMiddleware.milliseconds(since: start)), "bytes": .stringConvertible(bytes),
                "stream": .string(ended), "user_id": .stringConvertible(userID),
            ])
    }
}

/// Writes the events of one stream, each flushed as it is written.
struct SentEvents {
    var writer: any ResponseBodyWriter
    private var sentSources = false
    private var sentText = false
    /// Bytes of events written.
    private(set) var bytes = 0
    /// How the stream ended: `end`, or `error` once an error event went out.
    private(set) var ending = "end"

    init(writer: any ResponseBodyWriter) {
        self.writer = writer
    }

    mutating func send(_ event: QueryStream.Event, start: ContinuousClock.Instant, metrics: WorkerMetrics) async throws {
        switch event {
        case .sources(let sources):
            sentSources = true
            try await write("sources", #"{"sources":"# + RenderedAnswer.sourcesJSON(sources) + "}")
        case .text(let piece):
            try await writeText(JSONText.string(piece), start: start, metrics: metrics)
        case .finished(.success(let outcome)):
            // A cached answer, or one without a provider call ("nothing found"): replayed whole.
            let parts = outcome.answer.parts
            if !sentSources { try await write("sources", #"{"sources":"# + parts.sources + "}") }
            if !sentText { try await writeText(parts.answer, start: start, metrics: metrics) }
            QueryRoutes.count(outcome, since: start, metrics: metrics)
            try await write("metadata", QueryRoutes.metadata(outcome, seconds: (ContinuousClock.now - start).seconds))
            try await write("end", "{}")
        case .finished(.failure(let error)):
            ending = "error"
            metrics.countQuery(status: "error", cached: false, duration: .now - start)
            let detail = (error as? any HTTPAnswerable)?.answer?.detail ?? "Internal server error"
            try await write("error", #"{"detail":"# + JSONText.string(detail) + "}")
        }
    }

    /// A piece of the answer, already a JSON string literal; the first one's time is recorded.
    private mutating func writeText(_ literal: some StringProtocol, start: ContinuousClock.Instant, metrics: WorkerMetrics) async throws {
        try await write("text", #"{"text":"# + literal + "}")
        if !sentText { metrics.recordFirstToken(after: .now - start) }
        sentText = true
    }

    /// One event: its name and one line of JSON data.
    private mutating func write(_ name: String, _ data: String) async throws {
        let event = ByteBuffer(string: "event: \(name)\ndata: \(data)\n\n")
        bytes += event.readableBytes
        try await writer.write(event)
    }

    consuming func finish() async throws {
        try await writer.finish(nil)
    }
}
