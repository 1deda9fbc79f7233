/// A numbered passage given to the model as context.
public struct ContextPassage: Sendable, Equatable {
    /// "Ephesians 2:8" or a note's title.
    public let label: String
    public let text: String

    public init(label: String, text: String) {
        self.label = label
        self.text = text
    }
}

/// What the model is asked.
public struct CompletionRequest: Sendable {
    public let question: String
    /// Cited in answers as [1], [2], ... in this order.
    public let passages: [ContextPassage]
    public let maxTokens: Int

    public init(question: String, passages: [ContextPassage], maxTokens: Int) {
        self.question = question
        self.passages = passages
        self.maxTokens = maxTokens
    }
}

/// What the model answered and what it reported using.
public struct Completion: Sendable, Equatable {
    public let text: String
    /// Tokens as the provider counted them; nil when it did not say.
    public let promptTokens: Int?
    public let completionTokens: Int?

    public init(text: String, promptTokens: Int?, completionTokens: Int?) {
        self.text = text
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
    }
}

/// Told the answer's text piece by piece as the provider produces it.
public typealias TextPieces = @Sendable (String) -> Void

/// An upstream that answers questions from passages.
public protocol LLMProvider: Sendable {
    /// The `provider` reported in a query's metadata.
    var name: String { get }
    /// The model asked (LLM_MODEL; `local` for the local provider).
    var model: String { get }
    /// The answer and its usage. With `pieces` the provider streams: each
    /// piece of text is handed over as it comes, and the completion still
    /// carries the whole text once the call has ended.
    func complete(_ request: CompletionRequest, pieces: TextPieces?) async throws -> Completion
}

extension LLMProvider {
    /// The answer in one piece.
    public func complete(_ request: CompletionRequest) async throws -> Completion {
        try await complete(request, pieces: nil)
    }
}

/// The token estimate used wherever a provider reports no usage: one token
/// per four UTF-8 bytes, rounded up (close to BPE tokenizers on English prose).
public enum TokenEstimate {
    public static func tokens(in text: String) -> Int {
        (text.utf8.count + 3) / 4
    }

    /// The estimated prompt at its largest, the question aside: the
    /// instructions, `passages` passages of `contextTokens` in all, and a
    /// generous allowance for each passage's label and each message's chat template.
    public static func largestPromptWithoutQuestion(passages: Int, contextTokens: Int) -> Int {
        let empty = Array(repeating: ContextPassage(label: "", text: ""), count: passages)
        let messages = Prompt.messages(for: CompletionRequest(question: "", passages: empty, maxTokens: 0))
        return messages.reduce(0) { $0 + tokens(in: $1.content) + 8 } + passages * 32 + contextTokens
    }
}
