import ArgumentParser
import DurationUnits
import Logging
import NIOPosix
import PostgresClient
import Store

/// Runs the retrieval evaluation set against a database that holds the
/// library and the user's notes (scripts/bench imports the KJV and the demo
/// notes): recall@5, MRR, and the search's latency.
@main
struct RetrievalEval: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "retrieval-eval", abstract: "Score PassageSearch on an evaluation set.")

    @Option(help: "The database (a libpq URL).") var databaseURL: String
    @Option(help: "The evaluation set.") var set = "etc/demo/retrieval-evaluation.tsv"
    @Option(help: "The email of the user whose notes are searched.") var user: String
    @Option(help: "Runs over the set (the latencies of all are pooled).") var runs = 3

    func run() async throws {
        let threadPool = NIOThreadPool(numberOfThreads: 2)
        threadPool.start()
        let pool = PostgresConnectionPool(
            configuration: .init(url: databaseURL, maxConnections: 1), threadPool: threadPool,
            eventLoop: MultiThreadedEventLoopGroup.singleton.any(), logger: Logger(label: "retrieval-eval"))
        defer { pool.shutdown() }
        let evaluation = try RetrievalEvaluation(contentsOf: set)
        guard let owner = try await UserStore(pool: pool, threadPool: threadPool).user(email: user) else {
            throw ValidationError("no user \(user)")
        }
        var last: RetrievalEvaluation.Result?
        var latencies: [Duration] = []
        for _ in 0..<runs {
            let result = try await evaluation.run(PassageSearch(pool: pool), userID: owner.id)
            latencies += result.latencies
            last = result
        }
        guard let last else { return }
        latencies.sort()
        let milliseconds = { (share: Double) in (latencies[min(latencies.count - 1, Int(Double(latencies.count) * share))].seconds * 100_000).rounded() / 100 }
        let rounded = { (value: Double) in (value * 1000).rounded() / 1000 }
        print(
            "retrieval-eval: \(last.questions) questions, recall@5 \(rounded(last.recall)), MRR \(rounded(last.meanReciprocalRank)),",
            "search p50 \(milliseconds(0.5)) ms, p99 \(milliseconds(0.99)) ms (\(latencies.count) searches)")
        try await threadPool.shutdownGracefully()
    }
}
