import LLM
import Store

/// A source cited by an answer.
public struct AnswerSource: Sendable, Equatable {
    public let kind: Passage.Kind
    public let noteID: Int?
    public let ref: String?
    public let title: String
    public let snippet: String
    public let score: Double
}

/// An answer with its sources and what it cost.
public struct AssistantAnswer: Sendable, Equatable {
    public let answer: String
    public let sources: [AnswerSource]
    public let provider: String
    public let queryTokens: Int
    public let contextTokens: Int
    public let outputTokens: Int
    public let costUSD: Double
    /// True when the provider reported no usage and the tokens are estimates.
    public let costEstimated: Bool
}

/// Answers a question from the user's notes and the library: retrieve,
/// fit the passages into the context budget, ask the provider.
public struct AssistantService: Sendable {
    let search: PassageSearch
    let provider: any LLMProvider
    let topK: Int
    let contextMaxTokens: Int
    let maxTokens: Int

    public init(search: PassageSearch, provider: any LLMProvider, topK: Int, contextMaxTokens: Int, maxTokens: Int) {
        self.search = search
        self.provider = provider
        self.topK = topK
        self.contextMaxTokens = contextMaxTokens
        self.maxTokens = maxTokens
    }

    public func answer(_ question: Question, userID: Int) async throws -> AssistantAnswer {
        let passages = try await search.search(question.text, userID: userID, limit: topK)
        let context = fitted(passages.map { ContextPassage(label: $0.ref ?? $0.title, text: $0.text) })
        let completion = try await provider.complete(CompletionRequest(question: question.text, passages: context, maxTokens: maxTokens))
        let queryTokens = TokenEstimate.tokens(in: question.text)
        let contextTokens = context.reduce(0) { $0 + TokenEstimate.tokens(in: $1.text) }
        return AssistantAnswer(
            answer: completion.text,
            sources: passages.prefix(context.count).map {
                AnswerSource(kind: $0.kind, noteID: $0.noteID, ref: $0.ref, title: $0.title, snippet: $0.snippet, score: $0.score)
            },
            provider: provider.name,
            queryTokens: queryTokens,
            contextTokens: contextTokens,
            outputTokens: completion.completionTokens ?? TokenEstimate.tokens(in: completion.text),
            costUSD: 0,
            costEstimated: completion.completionTokens == nil)
    }

    /// The best passages whose estimated tokens fit in the context budget;
    /// the first is cut to the budget when it alone is larger.
    private func fitted(_ passages: [ContextPassage]) -> [ContextPassage] {
        var budget = contextMaxTokens
        var kept: [ContextPassage] = []
        for passage in passages {
            let tokens = TokenEstimate.tokens(in: passage.text)
            if tokens > budget {
                if kept.isEmpty { kept.append(ContextPassage(label: passage.label, text: String(passage.text.prefix(budget * 4)))) }
                break
            }
            kept.append(passage)
            budget -= tokens
        }
        return kept
    }
}
