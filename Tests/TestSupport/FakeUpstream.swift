import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A chat-completions server on loopback speaking the OpenAI-compatible
/// protocol (`POST /v1/chat/completions` with `usage`), with knobs for the
/// ways real upstreams fail and counters of what it saw. `POST /v1/embeddings`
/// answers OpenAI's embeddings protocol with a 64-dimension bag of words
/// (each word hashed to a dimension): texts sharing words are close.
public final class FakeUpstream: Sendable {
    public enum Mode: Sendable, Equatable {
        case answer
        /// This status with an error body, and a Retry-After when given.
        case status(Int, retryAfter: Int? = nil)
        /// Never answers.
        case hang
        /// Resets the connection (RST) instead of answering.
        case reset
        /// Sends the answer one byte every `interval`.
        case trickle(interval: Duration)
        /// 200 with a body that is not JSON.
        case malformed
        /// A chat completion without `usage`.
        case missingUsage
    }

    /// How a streamed answer (a request with `"stream": true`) comes: the
    /// answer word by word as OpenAI's chunks, `latency` before the first.
    public struct Streaming: Sendable {
        public enum Usage: Sendable, Equatable {
            /// A last chunk with empty `choices` (OpenAI's `include_usage`).
            case separateChunk
            /// On the last chunk that carries text.
            case onLastChoice
            case none
        }

        public enum Fault: Sendable, Equatable {
            case none
            /// Closes the connection after this many chunks.
            case cutAfter(Int)
            /// A line that is not a chunk after this many.
            case garbageAfter(Int)
            /// Sends nothing more after this many.
            case hangAfter(Int)
        }

        public var chunkGap = Duration.milliseconds(20)
        public var usage = Usage.separateChunk
        public var fault = Fault.none
    }

    public struct Behavior: Sendable {
        public var mode = Mode.answer
        public var streaming = Streaming()
        /// Before the answer, or before a stream's first chunk.
        public var latency = Duration.zero
        public var answer = "Grace is God's unmerited favour [1]."
        public var promptTokens = 321
        public var completionTokens = 47

        public init() {}
    }

    public struct Counters: Sendable, Equatable {
        /// Requests received in full.
        public var requests = 0
        /// Of those, the ones that asked for a stream.
        public var streamed = 0
        /// Requests received and not yet answered or abandoned.
        public var inFlight = 0
        public var maxInFlight = 0
        /// Requests whose client closed the connection before the answer.
        public var abandoned = 0
        public var lastBody = ""
        public var lastAuthorization: String?
        /// The W3C trace context the last request carried.
        public var lastTraceparent: String?
        /// `POST …/embeddings` requests (not counted in `requests`), and the texts they carried.
        public var embeddingRequests = 0
        public var embeddedTexts = 0
    }

    public let port: Int
    public var baseURL: String { "http://127.0.0.1:\(port)/v1" }
    let shared: UpstreamState
    private let channel: any Channel

    public init(_ behavior: Behavior = Behavior()) throws {
        let shared = UpstreamState(behavior)
        channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 512)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(ChatHandler(shared: shared))
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        port = channel.localAddress?.port ?? 0
        self.shared = shared
    }

    public var behavior: Behavior {
        get { shared.state.withLock { $0.behavior } }
        set { shared.state.withLock { $0.behavior = newValue } }
    }

    public var counters: Counters { shared.state.withLock { $0.counters } }

    deinit { try? channel.close().wait() }
}

/// The knobs and counters, shared by every connection.
final class UpstreamState: Sendable {
    let state: Mutex<(behavior: FakeUpstream.Behavior, counters: FakeUpstream.Counters)>

    init(_ behavior: FakeUpstream.Behavior) {
        state = Mutex((behavior, FakeUpstream.Counters()))
    }
}

/// One connection: reads a request, then answers as the behaviour says.
final class ChatHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let shared: UpstreamState
    private var body = ""
    private var authorization: String?
    private var traceparent: String?
    private var pending = false
    private var uri = ""

    init(shared: UpstreamState) {
        self.shared = shared
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            body = ""
            uri = head.uri
            authorization = head.headers["Authorization"].first
            traceparent = head.headers["traceparent"].first
        case .body(var buffer):
            body += buffer.readString(length: buffer.readableBytes) ?? ""
        case .end where uri.hasSuffix("/embeddings"):
            pending = true
            let inputs = (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["input"] as? [String] ?? []
            shared.state.withLock { state in
                state.counters.embeddingRequests += 1
                state.counters.embeddedTexts += inputs.count
                state.counters.lastAuthorization = authorization
            }
            write(200, Self.embeddings(inputs), context: context)
        case .end:
            pending = true
            let behavior = shared.state.withLock { state in
                state.counters.requests += 1
                if body.contains(#""stream":true"#) { state.counters.streamed += 1 }
                state.counters.inFlight += 1
                state.counters.maxInFlight = max(state.counters.maxInFlight, state.counters.inFlight)
                state.counters.lastBody = body
                state.counters.lastAuthorization = authorization
                state.counters.lastTraceparent = traceparent
                return state.behavior
            }
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let streams = body.contains(#""stream":true"#) && behavior.mode == .answer
            if streams { startStream(context: context) }
            context.eventLoop.scheduleTask(in: TimeAmount(behavior.latency)) {
                let (handler, context) = bound.value
                if streams { handler.stream(behavior, context: context) } else { handler.respond(behavior, context: context) }
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if pending { finish(abandoned: true) }
        context.fireChannelInactive()
    }

    private func finish(abandoned: Bool) {
        guard pending else { return }
        pending = false
        guard !uri.hasSuffix("/embeddings") else { return }
        shared.state.withLock { state in
            state.counters.inFlight -= 1
            if abandoned { state.counters.abandoned += 1 }
        }
    }

    private func respond(_ behavior: FakeUpstream.Behavior, context: ChannelHandlerContext) {
        guard pending, context.channel.isActive else { return }
        switch behavior.mode {
        case .answer:
            write(200, Self.completion(behavior, usage: true), context: context)
        case .missingUsage:
            write(200, Self.completion(behavior, usage: false), context: context)
        case .malformed:
            write(200, "{\"choices\": [ this is not json", context: context)
        case .status(let status, let retryAfter):
            write(status, #"{"error":{"message":"upstream says no"}}"#, headers: retryAfter.map { [("Retry-After", String($0))] } ?? [], context: context)
        case .hang:
            break
        case .reset:
            finish(abandoned: false)
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            (context.channel as? any SocketOptionProvider)?.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in
                bound.value.close(promise: nil)  // with a zero linger: RST
            }
        case .trickle(let interval):
            trickle(Array(Self.completion(behavior, usage: true).utf8), interval: interval, context: context)
        }
    }

    private func write(_ status: Int, _ text: String, headers: [(String, String)] = [], context: ChannelHandlerContext) {
        var fields = HTTPHeaders([("Content-Type", "application/json"), ("Content-Length", String(text.utf8.count))])
        fields.add(contentsOf: headers)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        finish(abandoned: false)
    }

    private func trickle(_ bytes: [UInt8], interval: Duration, context: ChannelHandlerContext) {
        let head = HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Content-Type": "application/json", "Content-Length": String(bytes.count)])
        context.writeAndFlush(wrapOutboundOut(.head(head)), promise: nil)
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        @Sendable func send(_ index: Int) {
            let (handler, context) = bound.value
            guard handler.pending, context.channel.isActive else { return }
            guard index < bytes.count else {
                context.writeAndFlush(handler.wrapOutboundOut(.end(nil)), promise: nil)
                handler.finish(abandoned: false)
                return
            }
            context.writeAndFlush(handler.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: bytes[index...index])))), promise: nil)
            context.eventLoop.scheduleTask(in: TimeAmount(interval)) { send(index + 1) }
        }
        send(0)
    }

    private func startStream(context: ChannelHandlerContext) {
        let head = HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Content-Type": "text/event-stream", "Transfer-Encoding": "chunked"])
        context.writeAndFlush(wrapOutboundOut(.head(head)), promise: nil)
    }

    /// The answer word by word, a chunk every `chunkGap`, then the usage and `[DONE]`, or the fault.
    private func stream(_ behavior: FakeUpstream.Behavior, context: ChannelHandlerContext) {
        let words = behavior.answer.split(separator: " ", omittingEmptySubsequences: false).enumerated().map { $0.offset == 0 ? String($0.element) : " " + $0.element }
        let streaming = behavior.streaming
        let usage = #"{"prompt_tokens":\#(behavior.promptTokens),"completion_tokens":\#(behavior.completionTokens),"total_tokens":\#(behavior.promptTokens + behavior.completionTokens)}"#
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        @Sendable func send(_ index: Int) {
            let (handler, context) = bound.value
            guard handler.pending, context.channel.isActive else { return }
            let data: (String) -> Void = { context.writeAndFlush(handler.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "data: \($0)\n\n")))), promise: nil) }
            switch streaming.fault {
            case .cutAfter(let count) where index == count:
                context.close(promise: nil)
                return
            case .hangAfter(let count) where index == count:
                return
            case .garbageAfter(let count) where index == count:
                data("this is not a chunk")
            default:
                break
            }
            guard index < words.count else {
                if streaming.usage == .separateChunk { data(#"{"id":"c1","object":"chat.completion.chunk","choices":[],"usage":\#(usage)}"#) }
                data("[DONE]")
                context.writeAndFlush(handler.wrapOutboundOut(.end(nil)), promise: nil)
                handler.finish(abandoned: false)
                return
            }
            let content = String(decoding: try! JSONEncoder().encode(words[index]), as: UTF8.self)
            let last = index == words.count - 1
            let usageField = last && streaming.usage == .onLastChoice ? #","usage":\#(usage)"# : ""
            data(#"{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":\#(content)},"finish_reason":\#(last ? #""stop""# : "null")}]\#(usageField)}"#)
            context.eventLoop.scheduleTask(in: TimeAmount(streaming.chunkGap)) { send(index + 1) }
        }
        send(0)
    }

    static func embeddings(_ inputs: [String]) -> String {
        let items = inputs.enumerated().map { index, text in
            var vector = [Double](repeating: 0, count: 64)
            for word in text.lowercased().split(whereSeparator: { !$0.isLetter }) {
                vector[Int(word.unicodeScalars.reduce(UInt32(7)) { ($0 &* 31) &+ $1.value } % 64)] += 1
            }
            return #"{"object":"embedding","index":\#(index),"embedding":[\#(vector.map { String($0) }.joined(separator: ","))]}"#
        }
        return #"{"object":"list","model":"fake-embedder","data":[\#(items.joined(separator: ","))]}"#
    }

    static func completion(_ behavior: FakeUpstream.Behavior, usage: Bool) -> String {
        let answer = String(decoding: try! JSONEncoder().encode(behavior.answer), as: UTF8.self)
        let usageField = usage ? #","usage":{"prompt_tokens":\#(behavior.promptTokens),"completion_tokens":\#(behavior.completionTokens),"total_tokens":\#(behavior.promptTokens + behavior.completionTokens)}"# : ""
        return #"{"id":"chatcmpl-1","object":"chat.completion","model":"fake","choices":[{"index":0,"message":{"role":"assistant","content":\#(answer)},"finish_reason":"stop"}]\#(usageField)}"#
    }
}
