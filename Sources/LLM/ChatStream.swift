import FoundationEssentials
import Synchronization

/// A streamed chat completion read as its bytes arrive (on the HTTP
/// client's thread): the SSE `data:` lines of OpenAI's chunk format, each
/// piece of text handed on at once, the usage kept from whichever chunk
/// carries it (the last choice chunk, a chunk with empty `choices`, or none),
/// until `[DONE]`. A line that is not a chunk ends the transfer.
final class ChatStream: Sendable {
    private struct State {
        var reader = ServerSentEventReader()
        var text = ""
        var usage: ChatCompletionsProvider.ChatReply.Usage?
        var done = false
        var failure: String?
        /// When the last bytes came (at first: when the call began).
        var heard = ContinuousClock.now
    }

    struct Chunk: Decodable {
        struct Choice: Decodable {
            struct Delta: Decodable { let content: String? }
            let delta: Delta?
        }
        let choices: [Choice]?
        let usage: ChatCompletionsProvider.ChatReply.Usage?
    }

    private let state = Mutex(State())
    private let pieces: TextPieces

    init(pieces: @escaping TextPieces) {
        self.pieces = pieces
    }

    /// Reads what arrived; false (abort) on a malformed stream.
    func read(_ bytes: ArraySlice<UInt8>) -> Bool {
        let (ok, newPieces) = state.withLock { state -> (Bool, [String]) in
            guard state.failure == nil else { return (false, []) }
            state.heard = .now
            do {
                var newPieces: [String] = []
                for event in try state.reader.read(bytes) where !state.done {
                    if let piece = try Self.take(event.data, into: &state) { newPieces.append(piece) }
                }
                return (true, newPieces)
            } catch {
                state.failure = "\(error)"
                return (false, [])
            }
        }
        newPieces.forEach(pieces)
        return ok
    }

    /// Returns once nothing has come for `limit` (before the first bytes, or
    /// between two reads); throws `CancellationError` when cancelled first.
    func waitForSilence(longerThan limit: Duration) async throws {
        while true {
            let silentUntil = state.withLock { $0.heard } + limit
            guard ContinuousClock.now < silentUntil else { return }
            try await Task.sleep(until: silentUntil)
        }
    }

    /// The whole answer, once the transfer has ended.
    func completion() throws(LLMError) -> Completion {
        let state = state.withLock { $0 }
        if let failure = state.failure { throw .upstreamFailed("the stream is not a chat completion: \(failure)") }
        guard state.done else { throw .upstreamFailed("the stream ended before [DONE]") }
        guard !state.text.isEmpty else { throw .upstreamFailed("the stream carried no answer") }
        return Completion(text: state.text, promptTokens: state.usage?.prompt_tokens, completionTokens: state.usage?.completion_tokens)
    }

    private struct Malformed: Error, CustomStringConvertible {
        let description: String
    }

    /// One event's data: `[DONE]`, or a chunk whose text (if any) is returned.
    private static func take(_ data: String, into state: inout State) throws -> String? {
        guard data != "[DONE]" else {
            state.done = true
            return nil
        }
        guard let chunk = try? JSONDecoder().decode(Chunk.self, from: Data(data.utf8)) else {
            throw Malformed(description: "a line that is not a chunk: \(data.prefix(80))")
        }
        if let usage = chunk.usage { state.usage = usage }
        guard let piece = chunk.choices?.first?.delta?.content, !piece.isEmpty else { return nil }
        state.text += piece
        return piece
    }
}
