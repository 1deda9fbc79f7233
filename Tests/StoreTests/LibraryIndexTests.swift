import Embeddings
import Foundation
import PostgresClient
@testable import Store
import Testing
import TestSupport

/// The library's index shared through files (what the supervisor's shared
/// directory is for): loaders of the same vectors map one file per
/// collection; a change of the vectors names a new file and removes the old.
@Suite struct LibraryIndexTests {
    static func addVerse(_ ref: String, _ vector: [Float], pool: PostgresConnectionPool) async throws {
        _ = try await pool.query("INSERT INTO scripture_verses (ref, book, chapter, verse, text) VALUES ($1, 'Book', 1, $2, 'text')", [ref, Int.random(in: 1...999_999)])
        _ = try await pool.query("INSERT INTO scripture_vectors (model, ref, vector) VALUES ('m', $1, $2::bytea)", [ref, PostgresBytes(QuantizedVector(vector).bytes)])
    }

    static func files(_ directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".index") }.sorted()
    }

    @Test func workersOfOneLibraryMapOneFileAndANewLibraryReplacesIt() async throws {
        let directory = try ProcessRunner.emptyDirectory()
        try await withMigratedDatabase { pool in
            try await Self.addVerse("Genesis 1:1", [1, 0, 0], pool: pool)
            try await Self.addVerse("John 1:1", [0, 1, 0], pool: pool)
            let (first, second) = (LibraryIndex(), LibraryIndex())
            try await first.load(from: PassageVectors(pool: pool), model: "m", sharedDirectory: directory)
            try await second.load(from: PassageVectors(pool: pool), model: "m", sharedDirectory: directory)
            let shared = try Self.files(directory)
            #expect(shared.count == 2 && shared.first { $0.hasPrefix("verses-2-") } != nil && shared.first { $0.hasPrefix("topics-0-") } != nil, "\(shared)")
            #expect(first.nearest(to: [0, 1, 0], limit: 1, floor: 0.5).map(\.id) == ["John 1:1"])
            #expect(second.nearest(to: [0, 1, 0], limit: 1, floor: 0.5).map(\.id) == ["John 1:1"])

            try await Self.addVerse("Psalm 23:1", [0, 0, 1], pool: pool)
            let third = LibraryIndex()
            try await third.load(from: PassageVectors(pool: pool), model: "m", sharedDirectory: directory)
            #expect(third.nearest(to: [0, 0, 1], limit: 1, floor: 0.5).map(\.id) == ["Psalm 23:1"])
            let replaced = try Self.files(directory)
            #expect(replaced.filter { $0.hasPrefix("verses-") }.count == 1 && replaced.contains { $0.hasPrefix("verses-3-") }, "\(replaced)")
            #expect(first.nearest(to: [1, 0, 0], limit: 1, floor: 0.5).map(\.id) == ["Genesis 1:1"], "a loaded index outlives its file's removal")
        }
    }
}
