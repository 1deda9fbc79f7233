import Foundation
import Testing
import TestSupport

/// `check-config` and configuration errors, through the real binary.
@Suite struct CheckConfigTests {
    static let valid: [String: String?] = [
        "JWT_SECRET": "e2e-secret-0123456789abcdef0123456789",
        "LLM_PROVIDER": "local",
    ]

    @Test(arguments: [
        ("PORT", "99999"), ("RATE_LIMIT_PER_MINUTE", "zero"), ("LLM_PROVIDER", "gpt"), ("USER_DAILY_COST_LIMIT", "-5"),
        ("JWT_SECRET", "short"), ("GRACEFUL_TIMEOUT", "5"), ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=%zz"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"), ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4096"),
    ])
    func invalidValueExits78WithOneLineNamingTheKey(key: String, value: String) throws {
        let output = try ProcessRunner.scribes(["check-config"], environment: Self.valid.merging([key: value]) { $1 })
        #expect(output.status == 78)
        let lines = output.standardError.split(separator: "\n")
        #expect(lines.count == 1)
        #expect(lines.first?.hasPrefix("scribes-assistant: configuration error: \(key):") == true, "\(output.standardError)")
        #expect(output.standardError.contains("accepted:"))
    }

    /// journald rate-limits each priority group apart: as an error (`<3>`), the
    /// reason a start failed survives the access lines' flood (info) just before.
    @Test func underTheJournalTheErrorLineCarriesTheErrorPriority() throws {
        let script = #"JOURNAL_STREAM=$(stat -L -c %d:%i /proc/$$/fd/2) exec "$0" check-config"#
        let output = try ProcessRunner.run(
            "/bin/sh", ["-c", script, TestEnvironment.binaryPath], environment: Self.valid.merging(["PORT": "99999"]) { $1 },
            directory: ProcessRunner.emptyDirectory())
        #expect(output.status == 78)
        #expect(output.standardError.hasPrefix("<3>scribes-assistant: configuration error: PORT:"), "\(output.standardError)")
    }

    @Test func theModelInUseIsPrintedWithItsCheckedChecksumAndTheKeyMasked() throws {
        let local = try ProcessRunner.scribes(["check-config"], environment: Self.valid.merging(["EMBEDDINGS_MODEL_DIR": try TestEnvironment.modelFolder]) { $1 })
        #expect(local.status == 0)
        #expect(local.standardOutput.contains("retrieval: words and meaning, model all-MiniLM-L6-v2 in \(try TestEnvironment.modelFolder), sha256 53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db (matches SHA256SUMS)"), "\(local.standardOutput)")
        let missing = try ProcessRunner.scribes(["check-config"], environment: Self.valid.merging(["EMBEDDINGS_MODEL_DIR": "/nonexistent/model"]) { $1 })
        #expect(missing.status == 0, "a missing model is said, not refused: words rank alone")
        #expect(missing.standardOutput.contains("retrieval: words alone, the model is not usable: cannot read /nonexistent/model/SHA256SUMS"), "\(missing.standardOutput)")
        let remote = try ProcessRunner.scribes(
            ["check-config"],
            environment: Self.valid.merging(["EMBEDDINGS_URL": "http://127.0.0.1:9/v1", "EMBEDDINGS_MODEL": "bge-small", "EMBEDDINGS_API_KEY": "embedding-key-123"]) { $1 })
        #expect(remote.status == 0)
        #expect(remote.standardOutput.contains("embeddings from http://127.0.0.1:9/v1 (model bge-small, vectors named remote:bge-small)"))
        #expect(!remote.standardOutput.contains("embedding-key-123"))
        let noModel = try ProcessRunner.scribes(["check-config"], environment: Self.valid.merging(["EMBEDDINGS_URL": "http://127.0.0.1:9/v1"]) { $1 })
        #expect(noModel.status == 78)
        #expect(noModel.standardError.contains("EMBEDDINGS_MODEL"))
    }

    @Test func paidProviderWithoutPricesExits78() throws {
        let output = try ProcessRunner.scribes(["check-config"], environment: Self.valid.merging(["LLM_PROVIDER": "huggingface", "LLM_MODEL": "m"]) { $1 })
        #expect(output.status == 78)
        #expect(output.standardError.contains("LLM_PRICE_INPUT_PER_1K"))
    }

    @Test func environmentBeatsTheEnvFileAndOriginsAreShown() throws {
        let directory = try ProcessRunner.emptyDirectory()
        let file = directory + "/scribes.env"
        try "RATE_LIMIT_PER_MINUTE=20\nRATE_LIMIT_PER_HOUR=200 # from the file\n".write(toFile: file, atomically: true, encoding: .utf8)
        let output = try ProcessRunner.scribes(
            ["check-config", "--env-file", file],
            environment: Self.valid.merging(["RATE_LIMIT_PER_MINUTE": "30"]) { $1 })
        #expect(output.status == 0, "\(output.standardError)")
        let lines = output.standardOutput.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("RATE_LIMIT_PER_MINUTE") && $0.contains("= 30  (environment)") })
        #expect(lines.contains { $0.hasPrefix("RATE_LIMIT_PER_HOUR") && $0.contains("= 200  (\(file):2)") })
        #expect(lines.contains { $0.hasPrefix("RATE_LIMIT_PER_DAY") && $0.contains("= 500  (default)") })
    }

    @Test func dotEnvInTheWorkingDirectoryIsReadWhenNoFileIsGiven() throws {
        let directory = try ProcessRunner.emptyDirectory()
        try "GLOBAL_HOURLY_LIMIT=1234\n".write(toFile: directory + "/.env", atomically: true, encoding: .utf8)
        let output = try ProcessRunner.scribes(["check-config"], environment: Self.valid, directory: directory)
        #expect(output.standardOutput.contains("= 1234  (.env:1)"))
    }

    @Test func malformedEnvFileExits78NamingTheLine() throws {
        let directory = try ProcessRunner.emptyDirectory()
        try "PORT=8000\nthis is not an assignment\n".write(toFile: directory + "/bad.env", atomically: true, encoding: .utf8)
        let output = try ProcessRunner.scribes(["check-config", "--env-file", directory + "/bad.env"], environment: Self.valid)
        #expect(output.status == 78)
        #expect(output.standardError.contains("bad.env:2"))
    }

    @Test func secretsNeverAppearInCheckConfigOutput() throws {
        let secrets = [
            "JWT_SECRET": "jwt-hunter2-0123456789abcdef0123456789",
            "REDIS_PASSWORD": "redis-hunter2",
            "HF_API_TOKEN": "hf_hunter2",
            "OTEL_EXPORTER_OTLP_HEADERS": "api-key=otel-hunter2",
            "DATABASE_URL": "postgresql://app:pg-hunter2@db.internal:5432/scribes",
        ]
        let output = try ProcessRunner.scribes(["check-config"], environment: Self.valid.merging(secrets) { $1 })
        #expect(output.status == 0, "\(output.standardError)")
        let everything = output.standardOutput + output.standardError
        #expect(!everything.contains("hunter2"))
        #expect(everything.contains("JWT_SECRET"))
        #expect(everything.contains("postgresql://app:********@db.internal:5432/scribes"))
    }

    @Test func versionIsPrinted() throws {
        let output = try ProcessRunner.scribes(["--version"])
        #expect(output.status == 0)
        #expect(output.standardOutput.split(separator: ".").count == 3)
    }
}
