import ArgumentParser
import Embeddings
import FoundationEssentials
import Logging
import NIOPosix
import PostgresClient
import Primitives
import Store

/// Runs the retrieval evaluation sets against a database that holds the
/// library and the user's notes (scripts/bench imports the KJV and the demo
/// notes): recall@5 and MRR by words, by meaning and fused, per set, with the
/// latencies of the question's embedding, the scan and the whole retrieval.
@main
struct RetrievalEval: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "retrieval-eval", abstract: "Score retrieval on evaluation sets.")

    @Option(help: "The database (a libpq URL).") var databaseURL: String
    @Option(name: .customLong("set"), help: "An evaluation set (repeatable).")
    var sets: [String] = ["etc/demo/retrieval-evaluation.tsv", "etc/demo/retrieval-modern.tsv"]
    @Option(help: "The email of the user whose notes are searched.") var user: String
    @Option(help: "Runs over each set (the latencies of all are pooled).") var runs = 3
    @Option(help: "The sentence-embedding model's folder; without it, words only.") var model: String?
    @Option(help: "The cosine floor of retrieval by meaning.") var minSimilarity = 0.5
    @Option(help: "The topics whose verses are ranked.") var topics = 3
    @Option(help: "The cosine a topic must reach.") var topicFloor = 0.55
    @Option(help: "Write each question's rankings (words, meaning) as JSON lines here, for tuning the fusion.") var dump: String?

    func run() async throws {
        let threadPool = NIOThreadPool(numberOfThreads: 2)
        threadPool.start()
        let logger = Logger(label: "retrieval-eval")
        let pool = PostgresConnectionPool(
            configuration: .init(url: databaseURL, maxConnections: 2), threadPool: threadPool,
            eventLoop: MultiThreadedEventLoopGroup.singleton.any(), logger: logger)
        defer { pool.shutdown() }
        guard let owner = try await UserStore(pool: pool, threadPool: threadPool).user(email: user) else {
            throw ValidationError("no user \(user)")
        }
        let words = PassageSearch(pool: pool)
        var retrievers: [(String, any PassageRetriever)] = [("words", words)]
        if let model {
            SentenceEncoder.setBLASThreads(1)  // as in a worker: the figures are one core's
            let embedder = try LocalSentenceModel(folder: model, threadPool: threadPool)
            let library = LibraryIndex()
            try await library.load(from: PassageVectors(pool: pool), model: embedder.model)
            print("retrieval-eval: \(embedder.model), \(library.count) verse vectors")
            try measureEmbedding(embedder, library: library)
            let meaning = MeaningSearch(pool: pool, embedder: CachedEmbedder(embedder), library: library, floor: minSimilarity, topicFloor: topicFloor, topics: topics)
            retrievers += [("meaning", meaning), ("fused", HybridSearch(words: words, meaning: meaning, mode: .fused, logger: logger))]
        }
        for set in sets {
            let evaluation = try RetrievalEvaluation(contentsOf: set)
            for (name, retriever) in retrievers {
                var last: RetrievalEvaluation.Result?
                var latencies: [Duration] = []
                for _ in 0..<runs {
                    let result = try await evaluation.run(retriever, userID: owner.id)
                    latencies += result.latencies
                    last = result
                }
                guard let last else { continue }
                print(
                    "retrieval-eval: \(set.split(separator: "/").last ?? ""), \(name): \(last.questions) questions,",
                    "recall@5 \(Self.rounded(last.recall)), MRR \(Self.rounded(last.meanReciprocalRank)),",
                    "retrieval p50 \(Self.percentile(latencies, 0.5)) ms, p99 \(Self.percentile(latencies, 0.99)) ms (\(latencies.count) searches)")
                for miss in last.misses { print("  missed: \(miss.question) -> \(miss.top.joined(separator: "; "))") }
            }
            if let dump { try await write(evaluation, retrievers: retrievers, userID: owner.id, to: dump + "." + (set.split(separator: "/").last.map(String.init) ?? "set")) }
        }
        try await threadPool.shutdownGracefully()
    }

    /// One question's embedding (uncached, on this thread) and one exact scan of the library, 200 times each.
    func measureEmbedding(_ embedder: LocalSentenceModel, library: LibraryIndex) throws {
        let questions = try sets.flatMap { try RetrievalEvaluation(contentsOf: $0).cases.map(\.question) }
        var embedding: [Duration] = []
        var scanning: [Duration] = []
        for index in 0..<200 {
            let question = questions[index % questions.count]
            var start = ContinuousClock.now
            let vector = embedder.embedBlocking([question])[0]
            embedding.append(.now - start)
            start = .now
            _ = library.nearest(to: vector, limit: 20, floor: 0)
            scanning.append(.now - start)
        }
        print("retrieval-eval: embedding p50 \(Self.percentile(embedding, 0.5)) ms, p99 \(Self.percentile(embedding, 0.99)) ms;",
              "scan of \(library.count) vectors p50 \(Self.percentile(scanning, 0.5)) ms, p99 \(Self.percentile(scanning, 0.99)) ms")
    }

    func write(_ evaluation: RetrievalEvaluation, retrievers: [(String, any PassageRetriever)], userID: Int, to path: String) async throws {
        var lines: [String] = []
        for item in evaluation.cases {
            var record: [String: [String]] = ["question": [item.question], "accepted": item.accepted]
            for (name, retriever) in retrievers where name == "words" {
                record[name] = try await retriever.search(item.question, userID: userID, limit: 50).map { RetrievalEvaluation.name($0) + "\t\($0.score)" }
            }
            if let meaning = retrievers.first(where: { $0.0 == "meaning" })?.1 as? MeaningSearch {
                let rankings = try await meaning.rank(item.question, userID: userID, limit: 50)
                record["meaning"] = rankings.direct.map { RetrievalEvaluation.name($0) + "\t\($0.score)" }
                record["topical"] = rankings.topical.map { RetrievalEvaluation.name($0) + "\t\($0.score)" }
            }
            lines.append(String(decoding: try JSONEncoder().encode(record), as: UTF8.self))
        }
        try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: path))
    }

    static func rounded(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }

    static func percentile(_ samples: [Duration], _ share: Double) -> Double {
        let sorted = samples.sorted()
        guard !sorted.isEmpty else { return 0 }
        return (sorted[min(sorted.count - 1, Int(Double(sorted.count) * share))].seconds * 100_000).rounded() / 100
    }
}
