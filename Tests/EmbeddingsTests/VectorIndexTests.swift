@testable import Embeddings
import Foundation
import Synchronization
import Testing
import TestSupport

/// The index in memory and as a file the workers map: the same answers either
/// way, rows found by id, and a file that is another model's, cut short or
/// not an index refused rather than read.
@Suite struct VectorIndexTests {
    static func unit(_ values: [Float]) -> [Float] {
        let norm = values.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return values.map { $0 / norm }
    }

    /// Ids out of order, one twice (the first kept), one of another length (dropped), one outside ASCII.
    static let rows: [(id: String, vector: QuantizedVector)] = [
        ("John 3:16", QuantizedVector(unit([1, 0, 0, 0]))),
        ("Genesis 1:1", QuantizedVector(unit([0, 1, 0, 0]))),
        ("Psalm 23:1", QuantizedVector(unit([1, 1, 0, 0]))),
        ("John 3:16", QuantizedVector(unit([0, 0, 0, 1]))),
        ("Jude 1:25", QuantizedVector(unit([1, 0, 0]))),
        ("Éphésiens 2:8", QuantizedVector(unit([0, 0, 1, 0]))),
    ]

    @Test func rowsAreFoundByIdAndRankedByCosine() throws {
        let index = VectorIndex(model: "m", dimensions: 4, rows: Self.rows)
        #expect(index.count == 4)
        #expect(try #require(index.similarity(of: "John 3:16", to: [1, 0, 0, 0])) > 0.99, "the first of two rows with one id is kept")
        #expect(try #require(index.similarity(of: "Éphésiens 2:8", to: [0, 0, 1, 0])) > 0.99)
        #expect(index.similarity(of: "Jude 1:25", to: [1, 0, 0, 0]) == nil, "a row of another length is dropped")
        #expect(index.similarity(of: "Genesis 1:2", to: [1, 0, 0, 0]) == nil)
        let nearest = index.nearest(to: Self.unit([1, 0.2, 0, 0]), limit: 2, floor: 0.5)
        #expect(nearest.map(\.id) == ["John 3:16", "Psalm 23:1"])
        #expect(index.nearest(to: [0, 0, 0, 1], limit: 5, floor: 0.5).isEmpty, "nothing reaches the floor")
    }

    @Test func aWrittenIndexMapsBackWithTheSameAnswers() throws {
        let path = try ProcessRunner.emptyDirectory() + "/verses.index"
        let memory = VectorIndex(model: "m", dimensions: 4, rows: Self.rows)
        try memory.write(to: path)
        let mapped = try VectorIndex(contentsOf: path, model: "m")
        guard case .mapped = mapped.storage else { Issue.record("not mapped"); return }
        #expect(mapped.count == memory.count)
        for query in [[1, 0, 0, 0], [0, 1, 0, 0], Self.unit([1, 1, 1, 0])] as [[Float]] {
            #expect(mapped.nearest(to: query, limit: 3, floor: 0).map(\.id) == memory.nearest(to: query, limit: 3, floor: 0).map(\.id))
        }
        #expect(mapped.similarity(of: "Genesis 1:1", to: [0, 1, 0, 0]) == memory.similarity(of: "Genesis 1:1", to: [0, 1, 0, 0]))
    }

    @Test func anotherModelsOrATruncatedOrAForeignFileIsRefused() throws {
        let directory = try ProcessRunner.emptyDirectory()
        try VectorIndex(model: "m", dimensions: 4, rows: Self.rows).write(to: directory + "/good.index")
        #expect(throws: EmbeddingError.self) { try VectorIndex(contentsOf: directory + "/good.index", model: "other") }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: directory + "/good.index"))
        try bytes.dropLast(3).write(to: URL(fileURLWithPath: directory + "/short.index"))
        #expect(throws: EmbeddingError.self) { try VectorIndex(contentsOf: directory + "/short.index", model: "m") }
        try Data("not an index at all, but long enough".utf8).write(to: URL(fileURLWithPath: directory + "/foreign.index"))
        #expect(throws: EmbeddingError.self) { try VectorIndex(contentsOf: directory + "/foreign.index", model: "m") }
        FileManager.default.createFile(atPath: directory + "/empty.index", contents: Data())
        #expect(throws: EmbeddingError.self) { try VectorIndex(contentsOf: directory + "/empty.index", model: "m") }
        #expect(throws: EmbeddingError.self) { try VectorIndex(contentsOf: directory + "/missing.index", model: "m") }
    }

    @Test func concurrentLoadersBuildASharedIndexOnceAndReplaceABrokenOne() async throws {
        let path = try ProcessRunner.emptyDirectory() + "/verses.index"
        final class Counter: Sendable { let value = Atomic<Int>(0) }
        let builds = Counter()
        @Sendable func build() async throws -> VectorIndex {
            builds.value.add(1, ordering: .relaxed)
            try await Task.sleep(for: .milliseconds(100))  // long enough for the others to find the lock taken
            return VectorIndex(model: "m", dimensions: 4, rows: Self.rows)
        }
        let counts = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<4 { group.addTask { try await VectorIndex.shared(at: path, model: "m", build: build).count } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(counts == [4, 4, 4, 4])
        #expect(builds.value.load(ordering: .relaxed) == 1)
        try Data("SAVINDX1 cut short".utf8).write(to: URL(fileURLWithPath: path))
        #expect(try await VectorIndex.shared(at: path, model: "m", build: build).count == 4)
        #expect(builds.value.load(ordering: .relaxed) == 2, "a file that does not read back is built again")
    }
}
