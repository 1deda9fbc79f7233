import Foundation
import Testing
import TestSupport

/// `migrate`, `users add`, `notes import` and `library import`, through the real binary.
@Suite struct DataCommandTests {
    func environment(_ database: TestDatabase) -> [String: String?] {
        ["DATABASE_URL": database.url, "BCRYPT_COST": "4"]
    }

    @Test func migrateTwiceIsANoOpTheSecondTime() async throws {
        try await TestDatabase.with { database in
            let first = try ProcessRunner.scribes(["migrate"], environment: environment(database))
            #expect(first.status == 0, "\(first.standardError)")
            #expect(first.standardOutput.contains("applied migration 1"))
            let second = try ProcessRunner.scribes(["migrate"], environment: environment(database))
            #expect(second.status == 0)
            #expect(second.standardOutput.contains("schema is up to date"))
            #expect(!second.standardOutput.contains("applied migration"))
        }
    }

    @Test func usersAddReadsThePasswordFromStdinAndRefusesADuplicate() async throws {
        try await TestDatabase.with { database in
            _ = try ProcessRunner.scribes(["migrate"], environment: environment(database))
            let added = try ProcessRunner.scribes(["users", "add", "--email", "test@example.com", "--password-stdin"], environment: environment(database), input: "password123\n")
            #expect(added.status == 0, "\(added.standardError)")
            #expect(added.standardOutput.contains("<test@example.com>"))
            let again = try ProcessRunner.scribes(["users", "add", "--email", "TEST@example.com", "--password-stdin"], environment: environment(database), input: "password456\n")
            #expect(again.status == 65, "EX_DATAERR")
            #expect(again.standardError == "scribes-assistant: a user with email TEST@example.com already exists\n")
        }
    }

    @Test func usersAddWithoutPasswordStdinIsAUsageError() throws {
        let output = try ProcessRunner.scribes(["users", "add", "--email", "a@example.com"])
        #expect(output.status == 64)
        #expect(output.standardError.contains("--password-stdin"))
    }

    @Test func unreachableDatabaseExits69() throws {
        let port = try freeLoopbackPort()
        let output = try ProcessRunner.scribes(["migrate"], environment: ["DATABASE_URL": "postgresql://postgres@127.0.0.1:\(port)/x"])
        #expect(output.status == 69)
        #expect(output.standardError.contains("connection failed"))
    }

    @Test func libraryAndNotesImportThroughTheCLI() async throws {
        try await TestDatabase.with { database in
            _ = try ProcessRunner.scribes(["migrate"], environment: environment(database))
            let directory = try ProcessRunner.emptyDirectory()
            let verses = directory + "/verses.jsonl"
            try """
                {"ref": "Ephesians 2:8", "book": "Ephesians", "chapter": 2, "verse": 8, "text": "For by grace are ye saved through faith"}
                {"ref": "Ephesians 2:9", "book": "Ephesians", "chapter": 2, "verse": 9, "text": "Not of works, lest any man should boast."}
                """.write(toFile: verses, atomically: true, encoding: .utf8)
            let imported = try ProcessRunner.scribes(["library", "import", verses], environment: environment(database))
            #expect(imported.status == 0, "\(imported.standardError)")
            #expect(imported.standardOutput.hasPrefix("imported 2 verses (0 already present, 0 invalid lines skipped)"))
            let again = try ProcessRunner.scribes(["library", "import", verses], environment: environment(database))
            #expect(again.standardOutput.hasPrefix("imported 0 verses (2 already present"))

            let notes = directory + "/notes.jsonl"
            try "{\"title\": \"Grace\", \"body\": \"Saved by grace.\"}\n{\"title\": \"\", \"body\": \"x\"}\n".write(toFile: notes, atomically: true, encoding: .utf8)
            let noUser = try ProcessRunner.scribes(["notes", "import", notes, "--user", "nobody@example.com"], environment: environment(database))
            #expect(noUser.status == 1)
            #expect(noUser.standardError.contains("no user with email nobody@example.com"))
            _ = try ProcessRunner.scribes(["users", "add", "--email", "ann@example.com", "--password-stdin"], environment: environment(database), input: "password123")
            let strict = try ProcessRunner.scribes(["notes", "import", notes, "--user", "ann@example.com"], environment: environment(database))
            #expect(strict.status == 65)
            #expect(strict.standardError.contains("line 2: 'title' is empty"))
            let skipping = try ProcessRunner.scribes(["notes", "import", notes, "--user", "ann@example.com", "--skip-invalid"], environment: environment(database))
            #expect(skipping.status == 0)
            #expect(skipping.standardOutput.contains("imported 1 notes (0 already present, 1 invalid lines skipped)"))
            #expect(skipping.standardOutput.contains("skipped line 2: 'title' is empty"))
        }
    }
}
