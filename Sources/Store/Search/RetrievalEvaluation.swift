import FoundationEssentials

/// recall@5 and MRR of a ``PassageRetriever`` over an evaluation set
/// (etc/demo/retrieval-evaluation.tsv: a question, a tab, the accepted
/// passages separated by ";"; `note:` + title names a note).
public struct RetrievalEvaluation: Sendable {
    public struct Case: Sendable {
        public let question: String
        public let accepted: [String]
    }

    public struct Result: Sendable {
        public let questions: Int
        /// The share of questions with an accepted passage in the top five.
        public let recall: Double
        /// The mean of 1 / the rank of the first accepted passage (0 when none is in the top five).
        public let meanReciprocalRank: Double
        /// The questions with no accepted passage in the top five, with what came back.
        public let misses: [(question: String, top: [String])]
        /// Each search's wall time.
        public let latencies: [Duration]
    }

    public let cases: [Case]

    /// Reads the set; lines starting with `#` and empty lines are comments.
    public init(contentsOf path: String) throws {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        cases = text.split(separator: "\n").compactMap { line in
            guard !line.hasPrefix("#"), let tab = line.firstIndex(of: "\t") else { return nil }
            return Case(question: String(line[..<tab]), accepted: line[line.index(after: tab)...].split(separator: ";").map(String.init))
        }
    }

    /// How a passage is named in the set.
    public static func name(_ passage: Passage) -> String {
        passage.kind == .note ? "note:" + passage.title : passage.ref ?? ""
    }

    public func run(_ search: some PassageRetriever, userID: Int) async throws -> Result {
        var found = 0
        var reciprocalRanks = 0.0
        var misses: [(question: String, top: [String])] = []
        var latencies: [Duration] = []
        for item in cases {
            let start = ContinuousClock.now
            let top = try await search.search(item.question, userID: userID, limit: 5).map(Self.name)
            latencies.append(.now - start)
            if let rank = top.firstIndex(where: item.accepted.contains) {
                found += 1
                reciprocalRanks += 1 / Double(rank + 1)
            } else {
                misses.append((item.question, top))
            }
        }
        let count = Double(max(cases.count, 1))
        return Result(questions: cases.count, recall: Double(found) / count, meanReciprocalRank: reciprocalRanks / count, misses: misses, latencies: latencies)
    }
}
