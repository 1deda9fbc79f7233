import Foundation
import PostgresClient
import Store
import Testing
import TestSupport

@Suite struct ScriptureLibraryTests {
    @Test func kjvImportGivesEveryVerseOnceAndAReimportAddsNone() async throws {
        try await withMigratedDatabase { pool in
            let library = ScriptureLibrary(pool: pool)
            let first = try await library.importVerses(from: try TestEnvironment.kjvPath)
            #expect(first.records == 31_102)
            #expect(first.inserted == 31_102)
            let versesAfterFirstImport = try await library.verseCount()
            #expect(versesAfterFirstImport == 31_102)
            let second = try await library.importVerses(from: try TestEnvironment.kjvPath)
            #expect(second.inserted == 0)
            #expect(second.alreadyPresent == 31_102)
            let versesAfterSecondImport = try await library.verseCount()
            #expect(versesAfterSecondImport == 31_102)
            let verse = try await pool.query("SELECT text FROM scripture_verses WHERE ref = $1", ["Ephesians 2:8"])
            #expect(try verse.rows[0].decode(required: "text", as: String.self).hasPrefix("For by grace are ye saved through faith"))
        }
    }

    @Test func invalidLinesFailTheWholeImportByDefault() async throws {
        let file = try writeLines([
            #"{"ref": "John 3:16", "book": "John", "chapter": 3, "verse": 16, "text": "For God so loved the world"}"#,
            #"{"ref": "John 3:17", "book": "John", "chapter": "three", "verse": 17, "text": "For God sent not his Son"}"#,
            "",
            #"not json"#,
            #"{"ref": "John 3:18", "book": "John", "chapter": 3, "verse": 18}"#,
            #"{"ref": "John 3:19", "book": "John", "chapter": 0, "verse": 19, "text": "And this is the condemnation"}"#,
        ])
        try await withMigratedDatabase { pool in
            let library = ScriptureLibrary(pool: pool)
            let error = await #expect(throws: StoreError.self) { try await library.importVerses(from: file) }
            #expect(error?.code == .invalidImport)
            let message = error?.message ?? ""
            #expect(message.contains("4 invalid line(s), nothing imported"))
            #expect(message.contains("line 2: field 'chapter' is not an integer"))
            #expect(message.contains("line 4: not valid JSON"))
            #expect(message.contains("line 5: missing field 'text'"))
            #expect(message.contains("line 6: 'chapter' must be at least 1"))
            let versesAfterRejectedImport = try await library.verseCount()
            #expect(versesAfterRejectedImport == 0)
        }
    }

    @Test func skipInvalidImportsTheValidLinesAndReportsTheRest() async throws {
        let file = try writeLines([
            #"{"ref": "John 3:16", "book": "John", "chapter": 3, "verse": 16, "text": "For God so loved the world"}"#,
            #"{"ref": "John 3:17", "book": "John", "chapter": 3, "verse": 17, "text": ""}"#,
            #"{"ref": "John 3:18", "book": "John", "chapter": 3, "verse": 18, "text": "He that believeth on him is not condemned"}"#,
        ])
        try await withMigratedDatabase { pool in
            let library = ScriptureLibrary(pool: pool)
            let summary = try await library.importVerses(from: file, mode: .skipInvalid)
            #expect(summary.inserted == 2)
            #expect(summary.invalid.map(\.line) == [2])
            let versesAfterSkippingImport = try await library.verseCount()
            #expect(versesAfterSkippingImport == 2)
        }
    }

    @Test func missingFileIsAClearError() async throws {
        try await withMigratedDatabase { pool in
            let error = await #expect(throws: StoreError.self) { try await ScriptureLibrary(pool: pool).importVerses(from: "/nonexistent.jsonl") }
            #expect(error?.code == .unreadableFile)
        }
    }
}

/// A temporary JSONL file with `lines`.
func writeLines(_ lines: [String]) throws -> String {
    let path = try ProcessRunner.emptyDirectory() + "/data.jsonl"
    try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
    return path
}
