import Testing

@testable import Settings

@Suite struct EnvironmentFileTests {
    @Test func readsAssignmentsCommentsQuotesAndExport() throws {
        let file = try EnvironmentFile(path: "x.env", text: """
            # a comment

            RATE_LIMITING_ENABLED=false  # Disable for easier testing
            export REDIS_HOST=redis.internal
            LLM_MODEL="meta-llama/Llama 3 # not a comment"
            HF_API_TOKEN='hf_abc=def'
            EMPTY=
            URL=http://host/#fragment
            """)
        let values = Dictionary(uniqueKeysWithValues: file.entries.map { ($0.key, $0.value) })
        #expect(values == [
            "RATE_LIMITING_ENABLED": "false",
            "REDIS_HOST": "redis.internal",
            "LLM_MODEL": "meta-llama/Llama 3 # not a comment",
            "HF_API_TOKEN": "hf_abc=def",
            "EMPTY": "",
            "URL": "http://host/#fragment",
        ])
        #expect(file.entry(for: "REDIS_HOST")?.line == 4)
    }

    @Test func laterAssignmentWins() throws {
        let file = try EnvironmentFile(path: "x.env", text: "PORT=1\nPORT=2\n")
        #expect(file.entry(for: "PORT")?.value == "2")
    }

    @Test(arguments: [
        ("just words", 1),
        ("OK=1\n=value", 2),
        ("BAD KEY=1", 1),
        ("QUOTED=\"unterminated", 1),
        ("QUOTED=\"a\" trailing", 1),
    ])
    func malformedLineIsNamed(text: String, line: Int) throws {
        let error = #expect(throws: ConfigurationError.self) { try EnvironmentFile(path: "bad.env", text: text) }
        #expect(error?.code == .malformedFile)
        #expect(error?.key == "bad.env:\(line)")
    }

    @Test func missingFileIsUnreadable() {
        let error = #expect(throws: ConfigurationError.self) { try EnvironmentFile(contentsOf: "/nonexistent/scribes.env") }
        #expect(error?.code == .unreadableFile)
    }
}
