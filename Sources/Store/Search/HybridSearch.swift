import Logging
import Synchronization

/// Words and meaning, fused: each ranks its own candidates above its own
/// floor (``PassageSearch``'s 40 % of the terms' weight, ``MeaningSearch``'s
/// cosine and topic floors), and a passage's fused score is the weighted
/// reciprocal-rank fusion of its ranks in the three lists (words, meaning
/// direct, meaning by topic), `Σ weight / (k + rank)` (Cormack et al., 2009). A
/// passage neither finds is never returned, so the honest "nothing found"
/// holds. When meaning cannot run (no model, no index, an external endpoint
/// down) the words' ranking is returned alone, with one warning.
public struct HybridSearch: PassageRetriever {
    public enum Mode: String, Sendable, CaseIterable {
        case words, meaning, fused
    }

    let words: PassageSearch
    let meaning: MeaningSearch?
    public let mode: Mode
    let logger: Logger
    let warned = WarnOnce()

    /// RRF's k (60 in the paper): 10 ranked best on the evaluation sets, so a
    /// list's first places count for more (docs/retrieval.md).
    static let rankConstant = 10.0
    /// Candidates taken from each list before fusing.
    static let depth = 10
    /// Each ranking's weight: meaning's two lists count half again as much as the words'.
    static let weights = (words: 1.0, direct: 1.5, topical: 1.5)

    public init(words: PassageSearch, meaning: MeaningSearch?, mode: Mode = .fused, logger: Logger) {
        self.words = words
        self.meaning = meaning
        self.mode = meaning == nil ? .words : mode
        self.logger = logger
    }

    public var identity: String {
        switch (mode, meaning) {
        case (.words, _), (_, nil): words.identity
        case (.meaning, let meaning?): meaning.identity
        case (.fused, let meaning?): "fused k \(Self.rankConstant) depth \(Self.depth) weights \(Self.weights), \(meaning.identity)"
        }
    }

    public func search(_ query: String, userID: Int, limit: Int) async throws -> [Passage] {
        switch (mode, meaning) {
        case (.words, _), (_, nil):
            return try await words.search(query, userID: userID, limit: limit)
        case (.meaning, let meaning?):
            return try await meaning.search(query, userID: userID, limit: limit)
        case (.fused, let meaning?):
            async let byWords = words.search(query, userID: userID, limit: max(limit, Self.depth))
            let byMeaning: MeaningSearch.Rankings
            do {
                byMeaning = try await meaning.rank(query, userID: userID, limit: max(limit, Self.depth))
            } catch {
                if warned.first() { logger.warning("Retrieval by meaning failed, ranking by words alone: \(error)") }
                return Array(try await byWords.prefix(limit))
            }
            let wordsRanking = try await byWords
            // The words' best always stays: a "What is X?" definition or an exact phrase outranks anything near it in meaning.
            return Self.fused(
                [(byMeaning.direct, Self.weights.direct), (byMeaning.topical, Self.weights.topical), (wordsRanking, Self.weights.words)], limit: limit,
                keeping: wordsRanking.first)
        }
    }

    static func key(_ passage: Passage) -> String? {
        passage.kind == .note ? "note:\(passage.noteID ?? 0)" : passage.ref ?? passage.title
    }

    /// Reciprocal-rank fusion of rankings (`anchor`, when given and ranked, is kept in the result in place of the last); a passage keeps the snippet of the last list that has it (the words' last: its matched words in bold).
    static func fused(_ rankings: [(passages: [Passage], weight: Double)], limit: Int, keeping anchor: Passage? = nil) -> [Passage] {
        var scores: [String: Double] = [:]
        var passages: [String: Passage] = [:]
        for (list, weight) in rankings {
            for (rank, passage) in list.prefix(depth).enumerated() {
                guard let key = Self.key(passage) else { continue }
                scores[key, default: 0] += weight / (rankConstant + Double(rank + 1))
                passages[key] = passage
            }
        }
        var ranked = Array(scores.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(limit))
        if let anchor, ranked.count == limit, let key = Self.key(anchor), !ranked.contains(where: { $0.key == key }), let score = scores[key] {
            ranked[limit - 1] = (key, score)
        }
        return ranked.compactMap { key, score in
            passages[key].map {
                Passage(kind: $0.kind, noteID: $0.noteID, ref: $0.ref, title: $0.title, text: $0.text, snippet: $0.snippet, score: (score * 1e6).rounded() / 1e6)
            }
        }
    }
}

/// True the first time only: a warning that would repeat on every request is logged once.
final class WarnOnce: Sendable {
    private let done = Atomic<Bool>(false)

    func first() -> Bool {
        !done.exchange(true, ordering: .relaxed)
    }
}
