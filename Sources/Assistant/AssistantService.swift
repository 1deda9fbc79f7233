import LLM
import Limits
import Store

/// A source cited by an answer.
public struct AnswerSource: Sendable, Equatable, Codable {
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
    public let cost: MicroUSD
    /// True when the provider reported no usage and the tokens are estimates.
    public let costEstimated: Bool
}

/// What upstream calls cost.
public enum Pricing: Sendable, Equatable {
    /// The local provider.
    case free
    /// Per 1,000 prompt and completion tokens (LLM_PRICE_INPUT_PER_1K / _OUTPUT_PER_1K).
    case perThousandTokens(input: MicroUSD, output: MicroUSD)
    /// A paid provider without prices: every call costs LLM_UNPRICED_RESERVE_USD, marked estimated.
    case flat(MicroUSD)
}

/// A question with its passages, ready for the provider.
public struct Retrieval: Sendable {
    let question: Question
    let passages: [Passage]
    /// The passages that fit in CONTEXT_MAX_TOKENS, as the provider gets them.
    let context: [ContextPassage]

    /// The sources an answer from these passages cites: those the provider gets.
    public var sources: [AnswerSource] {
        passages.prefix(context.count).map {
            AnswerSource(kind: $0.kind, noteID: $0.noteID, ref: $0.ref, title: $0.title, snippet: $0.snippet, score: $0.score)
        }
    }
}

/// Answers a question from the user's notes and the library: retrieve,
/// fit the passages into the context budget, ask the provider, count tokens
/// and cost.
public struct AssistantService: Sendable {
    let search: any PassageRetriever
    let provider: any LLMProvider
    let pricing: Pricing
    let topK: Int
    let contextMaxTokens: Int
    /// The prompt's most tokens besides the question's (reserved for each query).
    let largestPromptWithoutQuestion: Int
    let maxTokens: Int
    /// Told how long each retrieval took (the worker's `scribes_retrieval_seconds` histogram).
    public var retrievalObserver: @Sendable (Duration) -> Void = { _ in }

    public init(search: any PassageRetriever, provider: any LLMProvider, pricing: Pricing = .free, topK: Int, contextMaxTokens: Int, maxTokens: Int) {
        self.search = search
        self.provider = provider
        self.pricing = pricing
        self.topK = topK
        self.contextMaxTokens = contextMaxTokens
        largestPromptWithoutQuestion = TokenEstimate.largestPromptWithoutQuestion(passages: topK, contextTokens: contextMaxTokens)
        self.maxTokens = maxTokens
    }

    /// The most an answer to `question` can cost (USD), known before anything
    /// runs so that it can be reserved: the largest prompt (CONTEXT_MAX_TOKENS of
    /// passages) and LLM_MAX_TOKENS of output at the configured prices.
    public func reservation(for question: Question) -> MicroUSD {
        switch pricing {
        case .free: .zero
        case .flat(let cost): cost
        case .perThousandTokens(let input, let output):
            MicroUSD.cost(tokens: largestPromptWithoutQuestion + TokenEstimate.tokens(in: question.text), at: input) + MicroUSD.cost(tokens: maxTokens, at: output)
        }
    }

    /// What makes two questions one cache entry, besides the user and the data
    /// versions: everything that shapes the prompt and the answer.
    public func cacheIdentity(for question: Question) -> String {
        ["prompt \(Prompt.version)", "retrieval \(search.identity)", provider.name, provider.model, "\(maxTokens) tokens", "top \(topK)", "context \(contextMaxTokens)", question.normalized]
            .joined(separator: "\n")
    }

    /// Finds the passages for `question`; no upstream call yet, so nothing is spent.
    public func retrieve(_ question: Question, userID: Int) async throws -> Retrieval {
        let start = ContinuousClock.now
        let passages = try await search.search(question.text, userID: userID, limit: topK)
        retrievalObserver(.now - start)
        return Retrieval(question: question, passages: passages, context: fitted(passages.map { ContextPassage(label: $0.ref ?? $0.title, text: $0.text) }))
    }

    /// What a question that no passage answers gets, without asking the provider.
    public static let nothingFound = "Your notes and the scripture library do not answer that: nothing I found is about it. Try other words, or add a note on it."

    /// Asks the provider: from here the call may be billed. Throws what the
    /// provider throws (``LLMError``). When retrieval found nothing above the
    /// relevance floor, the answer says so and the provider is not asked (cost 0).
    /// With `pieces` the provider streams the answer's text there as it comes.
    public func answer(_ retrieval: Retrieval, pieces: TextPieces? = nil) async throws -> AssistantAnswer {
        let (question, passages, context) = (retrieval.question, retrieval.passages, retrieval.context)
        guard !passages.isEmpty else {
            return AssistantAnswer(
                answer: Self.nothingFound, sources: [], provider: provider.name, queryTokens: TokenEstimate.tokens(in: question.text),
                contextTokens: 0, outputTokens: 0, cost: .zero, costEstimated: false)
        }
        let completion = try await provider.complete(CompletionRequest(question: question.text, passages: context, maxTokens: maxTokens), pieces: pieces)
        let usage = Usage(completion, question: question.text, context: context)
        return AssistantAnswer(
            answer: completion.text,
            sources: retrieval.sources,
            provider: provider.name,
            queryTokens: usage.queryTokens,
            contextTokens: usage.contextTokens,
            outputTokens: usage.outputTokens,
            cost: usage.cost(pricing),
            costEstimated: usage.isCostEstimated(pricing))
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

/// The tokens of one answer: the upstream's `usage` when it reported one,
/// otherwise estimates. The upstream counts the whole prompt (instructions,
/// passages, question) as one number; it is split between the question and
/// the context in proportion to their estimated sizes.
struct Usage {
    let queryTokens: Int
    let contextTokens: Int
    let outputTokens: Int
    let isEstimated: Bool

    init(_ completion: Completion, question: String, context: [ContextPassage]) {
        let queryEstimate = TokenEstimate.tokens(in: question)
        let contextEstimate = context.reduce(0) { $0 + TokenEstimate.tokens(in: $1.text) }
        if let prompt = completion.promptTokens, let output = completion.completionTokens {
            let total = queryEstimate + contextEstimate
            queryTokens = total == 0 ? prompt : Int((Double(prompt) * Double(queryEstimate) / Double(total)).rounded())
            contextTokens = prompt - queryTokens
            outputTokens = output
            isEstimated = false
        } else {
            queryTokens = queryEstimate
            contextTokens = contextEstimate
            outputTokens = completion.completionTokens ?? TokenEstimate.tokens(in: completion.text)
            isEstimated = true
        }
    }

    /// Whether `cost(pricing)` rests on estimates (a free call costs exactly 0).
    func isCostEstimated(_ pricing: Pricing) -> Bool {
        switch pricing {
        case .free: false
        case .perThousandTokens: isEstimated
        case .flat: true
        }
    }

    func cost(_ pricing: Pricing) -> MicroUSD {
        switch pricing {
        case .free: .zero
        case .perThousandTokens(let input, let output): MicroUSD.cost(tokens: queryTokens + contextTokens, at: input) + MicroUSD.cost(tokens: outputTokens, at: output)
        case .flat(let cost): cost
        }
    }
}
