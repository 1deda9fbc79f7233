import Foundation
import Testing
import TestSupport

/// Retrieval by meaning through the real binary: the shipped model, the
/// KJV's shipped vectors for a few whole chapters (so no verse needs
/// inference at import), two workers, and a paid fake upstream that counts
/// its calls.
@Suite(.serialized) struct RetrievalByMeaningTests {
    /// Whole chapters, so each verse's passage (with its neighbours) is the one the shipped vectors hold.
    static let chapters: Set<String> = ["Psalms 121", "Philippians 4", "Matthew 6", "Matthew 22", "Genesis 5", "Luke 23", "John 3", "Romans 3", "1 Corinthians 13"]

    static let library = Result {
        let directory = try ProcessRunner.emptyDirectory()
        let verses = try String(contentsOfFile: try TestEnvironment.kjvPath, encoding: .utf8).split(separator: "\n").filter { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let book = object["book"] as? String, let chapter = object["chapter"] as? Int
            else { return false }
            return chapters.contains("\(book) \(chapter)")
        }
        try (verses.joined(separator: "\n") + "\n").write(toFile: directory + "/library.jsonl", atomically: true, encoding: .utf8)
        // Beside the file, as the package installs kjv-verses.vectors beside kjv-verses.jsonl: `library import` finds it.
        try FileManager.default.copyItem(atPath: try TestEnvironment.kjvVectorsPath, toPath: directory + "/library.vectors")
        return (path: directory + "/library.jsonl", verses: verses.count)
    }

    let upstream: FakeUpstream
    /// Limits on (the cost is checked), so a Redis of its own.
    let redis: PrivateRedis
    let appliance: Appliance
    let token: String
    /// The appliance's TMPDIR, where the supervisor makes the directory the workers share the index in.
    let temporary: String

    init() throws {
        upstream = try FakeUpstream()
        temporary = try ProcessRunner.emptyDirectory()
        redis = try PrivateRedis()
        appliance = try Appliance(
            library: try Self.library.get().path, users: ["ann@example.com": "password123"],
            environment: [
                "WORKERS": "2", "EMBEDDINGS_MODEL_DIR": try TestEnvironment.modelFolder,
                "LLM_PROVIDER": "openai", "LLM_BASE_URL": upstream.baseURL, "LLM_MODEL": "fake-model", "HF_API_TOKEN": "upstream-secret",
                "LLM_PRICE_INPUT_PER_1K": "0.5", "LLM_PRICE_OUTPUT_PER_1K": "1.5", "RATE_LIMITING_ENABLED": "true",
                "REDIS_PORT": String(redis.port), "TMPDIR": temporary,
            ])
        token = try EndToEndTests.token("ann@example.com", "password123", port: appliance.port)
        let appliance = appliance
        // Each worker loads on its own (the second maps what the first wrote): 20 fresh connections in a row,
        // spread over both slots by the kernel, all answered by a worker with the index loaded.
        var loadedInARow = 0
        try waitUntil("the workers load the library's vectors", timeout: .seconds(30)) {
            let checks = try? HTTPExchange.request("GET", "/api/v1/assistant/health", port: appliance.port).json["checks"] as? [String: Any]
            loadedInARow = checks?["meaning_index"] as? String == "loaded" ? loadedInARow + 1 : 0
            return loadedInARow == 20
        }
    }

    func ask(_ question: String) throws -> HTTPExchange {
        try HTTPExchange.request(
            "POST", "/api/v1/assistant/query", port: appliance.port, body: #"{"query":"\#(question)"}"#,
            headers: ["Authorization": "Bearer \(token)", "Cache-Control": "no-store"])
    }

    static func sources(_ response: HTTPExchange) -> [String] {
        (response.json["sources"] as? [[String: Any]] ?? []).map { ($0["ref"] as? String) ?? "note:" + ($0["title"] as? String ?? "") }
    }

    @Test func healthSaysTheIndexIsLoadedWithEveryVerse() throws {
        let checks = try #require(try HTTPExchange.request("GET", "/api/v1/assistant/health", port: appliance.port).json["checks"] as? [String: Any])
        #expect(checks["retrieval"] as? String == "hybrid")
        #expect(checks["meaning_vectors"] as? String == String(try Self.library.get().verses))
        #expect(!appliance.log.contains("verses not embedded"))
    }

    @Test func theWorkersMapOneSharedIndexThatTheSupervisorRemovesWhenItStops() throws {
        let made = try FileManager.default.contentsOfDirectory(atPath: temporary).filter { $0.hasPrefix("scribes-shared.") }
        try #require(made.count == 1, "\(made)")
        let shared = temporary + "/" + made[0]
        let files = try FileManager.default.contentsOfDirectory(atPath: shared).filter { $0.hasSuffix(".index") }.sorted()
        let verses = "verses-\(try Self.library.get().verses)-"
        #expect(files.count == 2 && files[0].hasPrefix("topics-") && files[1].hasPrefix(verses), "\(files)")
        for worker in appliance.workerPIDs() {
            // Read to the end: /proc reports a size of 0, and String(contentsOfFile:) came back without the later mappings.
            let maps = String(decoding: try FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/\(worker)/maps")).readToEnd() ?? Data(), as: UTF8.self)
            #expect(maps.contains("/\(made[0])/\(files[1])\n"), "worker \(worker) maps the verses' file")
        }
        #expect(appliance.terminate().status == 0)
        #expect(!FileManager.default.fileExists(atPath: shared))
    }

    @Test func aModernQuestionFindsTheVerseWrittenInOlderWords() throws {
        // The issue's example: over the whole KJV, words alone return no passage (StoreTests holds the contrast); Matthew 22:36 says "the great commandment".
        let response = try ask("Which commandment is the most important?")
        #expect(response.status == 200, "\(response.body)")
        let found = Self.sources(response)
        #expect(!Set(found).isDisjoint(with: ["Matthew 22:36", "Matthew 22:37", "Matthew 22:38"]), "\(found)")
        #expect(upstream.counters.requests == 1)
    }

    @Test func thePotluckStillFindsNothingAndCostsNothing() throws {
        let response = try ask("Who brings the plantain salad to the church potluck?")
        #expect(response.status == 200)
        #expect(Self.sources(response).isEmpty, "\(Self.sources(response))")
        #expect((response.json["metadata"] as? [String: Any])?["api_cost_usd"] as? Double == 0)
        #expect(upstream.counters.requests == 0, "no upstream call")
    }

    @Test func aNoteIsFoundByAParaphraseOnTheNextRequest() throws {
        let note = try HTTPExchange.request(
            "POST", "/api/v1/notes", port: appliance.port,
            body: #"{"title":"Tending the infirm","body":"On Thursdays the deacons sit beside the beds of the sick at the county infirmary, bringing soup and reading psalms aloud."}"#,
            headers: ["Authorization": "Bearer \(token)"])
        #expect(note.status == 201, "\(note.body)")
        // No word in common with the note: only its meaning can find it.
        let response = try ask("How does our church care for people who are ill?")
        #expect(Self.sources(response).contains("note:Tending the infirm"), "\(Self.sources(response))")
    }
}

/// An external embeddings endpoint (OpenAI's `POST /v1/embeddings`) instead of the shipped model.
@Suite struct ExternalEmbeddingsTests {
    @Test func theLibraryAndQuestionsAreEmbeddedByTheEndpointWithItsKey() throws {
        let upstream = try FakeUpstream()
        let appliance = try Appliance(
            library: try UpstreamTests.library.get(), users: ["ann@example.com": "password123"],
            environment: ["WORKERS": "1", "EMBEDDINGS_URL": upstream.baseURL, "EMBEDDINGS_MODEL": "fake-embedder", "EMBEDDINGS_API_KEY": "embeddings-secret"])
        #expect(upstream.counters.embeddedTexts == 2, "library import embedded both verses")
        try waitUntil("the worker loads the endpoint's vectors", timeout: .seconds(20)) {
            let checks = try? HTTPExchange.request("GET", "/api/v1/assistant/health", port: appliance.port).json["checks"] as? [String: Any]
            return checks?["meaning_vectors"] as? String == "2"
        }
        let token = try EndToEndTests.token("ann@example.com", "password123", port: appliance.port)
        let before = upstream.counters.embeddingRequests
        let response = try HTTPExchange.request(
            "POST", "/api/v1/assistant/query", port: appliance.port, body: #"{"query":"justified by his redemption"}"#, headers: ["Authorization": "Bearer \(token)"])
        #expect(response.status == 200)
        #expect((response.json["sources"] as? [[String: Any]])?.first?["ref"] as? String == "Romans 3:24")
        #expect(upstream.counters.embeddingRequests == before + 1, "the question was embedded by the endpoint")
        #expect(upstream.counters.lastAuthorization == "Bearer embeddings-secret")
        #expect(!appliance.log.contains("embeddings-secret"))
    }
}
