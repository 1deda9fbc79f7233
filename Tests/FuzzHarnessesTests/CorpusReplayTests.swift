import FoundationEssentials
import FuzzHarnesses
import Testing

/// Every input in `Fuzz/Corpus/{harness}/` (the seeds, and each crash the
/// fuzzers found, kept as a regression) passes its harness without a trap.
@Suite struct CorpusReplayTests {
    static let corpus = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appending(path: "Fuzz/Corpus")

    @Test(arguments: FuzzHarness.all.map(\.name))
    func corpusPassesItsHarness(_ name: String) throws {
        let harness = try #require(FuzzHarness.named(name))
        let folder = Self.corpus.appending(path: name)
        let inputs = try FileManager.default.contentsOfDirectory(atPath: folder.path)
        #expect(inputs.count >= 3, "the seed corpus of \(name) is missing")
        for input in inputs {
            harness.run(Array(try Data(contentsOf: folder.appending(path: input))))
        }
    }
}
