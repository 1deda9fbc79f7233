/// Answers without a model, network or cost: an extractive answer built
/// from the retrieved passages, each cited as [n] (a question without
/// passages never reaches a provider: `AssistantService` answers it). Used by `scripts/dev`,
/// tests and air-gapped installs (`LLM_PROVIDER=local`).
public struct LocalProvider: LLMProvider {
    public var name: String { "local" }
    public var model: String { "local" }

    public init() {}

    /// The pause between streamed pieces, so that `scripts/dev` shows an answer arriving.
    public static let pieceInterval = Duration.milliseconds(15)

    public func complete(_ request: CompletionRequest, pieces: TextPieces?) async throws -> Completion {
        let text = Self.compose(request)
        if let pieces {
            for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                if index > 0 { try await Task.sleep(for: Self.pieceInterval) }
                pieces((index > 0 ? "\n" : "") + line)
            }
        }
        return Completion(
            text: text,
            promptTokens: TokenEstimate.tokens(in: request.question) + request.passages.reduce(0) { $0 + TokenEstimate.tokens(in: $1.text) },
            completionTokens: TokenEstimate.tokens(in: text))
    }

    static func compose(_ request: CompletionRequest) -> String {
        var lines = ["Here is what your notes and the scriptures say:"]
        for (index, passage) in request.passages.enumerated() {
            lines.append("[\(index + 1)] \(passage.label): \(passage.text)")
        }
        return lines.joined(separator: "\n")
    }
}
