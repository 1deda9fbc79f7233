import HummingbirdBcrypt
import NIOPosix
import PostgresClient
import Store
import Testing
import TestSupport

@Suite struct UserStoreTests {
    @Test func passwordIsStoredOnlyAsABcryptHash() async throws {
        try await withMigratedDatabase { pool in
            let users = UserStore(pool: pool, threadPool: .singleton)
            let user = try await users.addUser(email: "pastor@example.com", password: "password123", bcryptCost: 4)
            let stored = try await pool.query("SELECT * FROM users WHERE id = $1", [user.id]).rows[0]
            let hash = try stored.decode(required: "password_hash", as: String.self)
            #expect(hash.hasPrefix("$2b$04$"))
            #expect(!stored.values.contains { $0?.contains("password123") == true })
            #expect(Bcrypt.verify("password123", hash: hash))
            #expect(!Bcrypt.verify("password124", hash: hash))
        }
    }

    @Test func existingEmailInAnyCaseIsRefused() async throws {
        try await withMigratedDatabase { pool in
            let users = UserStore(pool: pool, threadPool: .singleton)
            _ = try await users.addUser(email: "test@example.com", password: "password123", bcryptCost: 4)
            let error = await #expect(throws: StoreError.self) {
                try await users.addUser(email: "Test@Example.com", password: "different-password", bcryptCost: 4)
            }
            #expect(error?.code == .duplicateEmail)
            #expect(error?.message == "a user with email Test@Example.com already exists")
        }
    }

    @Test(arguments: ["", "no-at-sign", "two@@example.com", "spaces in@example.com", "x@nodot", "@example.com"])
    func malformedEmailIsRefused(email: String) async throws {
        try await withMigratedDatabase { pool in
            let error = await #expect(throws: StoreError.self) {
                try await UserStore(pool: pool, threadPool: .singleton).addUser(email: email, password: "password123", bcryptCost: 4)
            }
            #expect(error?.code == .invalidInput)
        }
    }

    @Test(arguments: ["short", String(repeating: "p", count: 73)])
    func passwordOutsideBcryptsRangeIsRefused(password: String) async throws {
        try await withMigratedDatabase { pool in
            let error = await #expect(throws: StoreError.self) {
                try await UserStore(pool: pool, threadPool: .singleton).addUser(email: "a@example.com", password: password, bcryptCost: 4)
            }
            #expect(error?.code == .invalidInput)
        }
    }
}

@Suite struct NoteStoreTests {
    @Test func notesImportIsIdempotentAndBumpsTheNotesVersion() async throws {
        let file = try writeLines([
            #"{"title": "Grace upon grace", "body": "By grace are ye saved through faith.", "preached_on": "2024-02-29", "speaker": "Pastor Ann"}"#,
            #"{"title": "Faith", "body": "Faith cometh by hearing."}"#,
        ])
        try await withMigratedDatabase { pool in
            let user = try await UserStore(pool: pool, threadPool: .singleton).addUser(email: "ann@example.com", password: "password123", bcryptCost: 4)
            let notes = NoteStore(pool: pool)
            let first = try await notes.importNotes(from: file, userID: user.id)
            #expect(first.inserted == 2)
            let version = { try await pool.query("SELECT notes_version FROM users WHERE id = $1", [user.id]).rows[0].decode(required: "notes_version", as: Int.self) }
            let afterFirst = try await version()
            #expect(afterFirst == 1)
            let second = try await notes.importNotes(from: file, userID: user.id)
            #expect(second.inserted == 0)
            #expect(second.alreadyPresent == 2)
            let noteCount = try await notes.noteCount(userID: user.id)
            #expect(noteCount == 2)
            let versionAfterReimport = try await version()
            #expect(versionAfterReimport == afterFirst)
        }
    }

    @Test(arguments: [
        (#"{"title": "", "body": "b"}"#, "'title' is empty"),
        (#"{"title": "t", "body": "   "}"#, "'body' is empty"),
        (#"{"title": "t", "body": "b", "preached_on": "2023-02-29"}"#, "'preached_on' is not a date YYYY-MM-DD"),
        (#"{"title": "t", "body": "b", "preached_on": "yesterday"}"#, "'preached_on' is not a date YYYY-MM-DD"),
        (#"{"title": "t"}"#, "missing field 'body'"),
        (#"{"title": "t", "body": "b", "speaker": 7}"#, "field 'speaker' is not a string"),
    ])
    func invalidNoteIsReportedWithItsLine(line: String, reason: String) async throws {
        let file = try writeLines([#"{"title": "ok", "body": "fine"}"#, line])
        try await withMigratedDatabase { pool in
            let user = try await UserStore(pool: pool, threadPool: .singleton).addUser(email: "ann@example.com", password: "password123", bcryptCost: 4)
            let error = await #expect(throws: StoreError.self) { try await NoteStore(pool: pool).importNotes(from: file, userID: user.id) }
            #expect(error?.message.contains("line 2: \(reason)") == true, "\(error?.message ?? "")")
            let noteCount = try await NoteStore(pool: pool).noteCount(userID: user.id)
            #expect(noteCount == 0)
        }
    }
}
