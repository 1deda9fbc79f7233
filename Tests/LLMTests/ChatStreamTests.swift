import Synchronization
import Testing

@testable import LLM

/// The streamed chat completion's reader: server-sent events in any cut of
/// their bytes, OpenAI's chunks with the usage wherever a provider puts it,
/// and a malformed stream refused rather than half-read.
@Suite struct ChatStreamTests {
    /// The events of `text` fed in pieces of `size` bytes.
    static func events(_ text: String, size: Int) throws -> [ServerSentEventReader.Event] {
        var reader = ServerSentEventReader()
        let bytes = Array(text.utf8)
        return try stride(from: 0, to: bytes.count, by: size).flatMap { try reader.read(bytes[$0..<min($0 + size, bytes.count)]) }
    }

    @Test(arguments: [1, 2, 3, 7, 1000])
    func eventsReadTheSameWhereverTheBytesAreCut(_ size: Int) throws {
        let text = ": a comment\r\nevent: delta\r\ndata: one\r\ndata:two\r\n\r\ndata: {\"x\": 1}\n\nid: 7\rretry: 10\rdata: ü\r\r"
        #expect(
            try Self.events(text, size: size) == [
                .init(name: "delta", data: "one\ntwo"), .init(name: "message", data: #"{"x": 1}"#), .init(name: "message", data: "ü"),
            ])
    }

    @Test func aLineLongerThanTheBoundIsRefused() {
        var reader = ServerSentEventReader()
        let line = [UInt8](repeating: UInt8(ascii: "a"), count: ServerSentEventReader.maxLineBytes + 1)
        #expect(throws: ServerSentEventReader.LineTooLong.self) { _ = try reader.read(line) }
    }

    static func chunk(_ text: String?, usage: Bool = false) -> String {
        let choices = text.map { #"[{"index":0,"delta":{"content":"\#($0)"},"finish_reason":null}]"# } ?? "[]"
        return "data: " + #"{"id":"c","object":"chat.completion.chunk","choices":\#(choices)\#(usage ? #","usage":{"prompt_tokens":11,"completion_tokens":3}"# : "")}"# + "\n\n"
    }

    /// Feeds `text` to a stream in pieces of 5 bytes; the pieces it told and whether it read everything.
    static func read(_ text: String) -> (ChatStream, [String], Bool) {
        let told = Mutex<[String]>([])
        let stream = ChatStream { piece in told.withLock { $0.append(piece) } }
        let bytes = Array(text.utf8)
        var ok = true
        for start in stride(from: 0, to: bytes.count, by: 5) where ok { ok = stream.read(bytes[start..<min(start + 5, bytes.count)]) }
        return (stream, told.withLock { $0 }, ok)
    }

    @Test func usageInAChunkOfItsOwnOnTheLastChoiceOrNowhere() throws {
        let text = Self.chunk("Grace") + Self.chunk(" is") + Self.chunk(" free")
        for (tail, usage) in [(Self.chunk(nil, usage: true), true), ("", false)] {
            let (stream, pieces, ok) = Self.read(text + tail + "data: [DONE]\n\n")
            #expect(ok && pieces == ["Grace", " is", " free"])
            let completion = try stream.completion()
            #expect(completion.text == "Grace is free")
            #expect(completion.promptTokens == (usage ? 11 : nil) && completion.completionTokens == (usage ? 3 : nil))
        }
        let (onLast, _, _) = Self.read(Self.chunk("Grace") + Self.chunk(" is", usage: true) + "data: [DONE]\n\n")
        #expect(try onLast.completion().completionTokens == 3)
    }

    @Test func aLineThatIsNotAChunkAbortsAndIsAnUpstreamFailure() {
        let (stream, pieces, ok) = Self.read(Self.chunk("Grace") + "data: {not json\n\n" + Self.chunk(" is"))
        #expect(!ok && pieces == ["Grace"])
        #expect(throws: LLMError.self) { try stream.completion() }
    }

    @Test func aStreamCutBeforeDoneOrWithoutTextIsAnUpstreamFailure() {
        #expect(throws: LLMError.self) { try Self.read(Self.chunk("Grace")).0.completion() }
        #expect(throws: LLMError.self) { try Self.read(Self.chunk(nil, usage: true) + "data: [DONE]\n\n").0.completion() }
    }
}
