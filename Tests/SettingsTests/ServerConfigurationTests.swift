import Testing

@testable import Settings

/// A valid minimal environment: the local provider needs no model or prices.
let validEnvironment = [
    "JWT_SECRET": "0123456789abcdef0123456789abcdef",
    "LLM_PROVIDER": "local",
]

func configuration(_ overrides: [String: String], file: EnvironmentFile? = nil) throws(ConfigurationError) -> (ServerConfiguration, ConfigurationReader) {
    let reader = ConfigurationReader(environment: validEnvironment.merging(overrides) { $1 }, file: file)
    return (try ServerConfiguration(reading: reader, cpuCount: 3), reader)
}

@Suite struct ServerConfigurationTests {
    @Test func defaultsMatchTheDesignTable() throws {
        let (config, _) = try configuration([:])
        #expect(config.limits.enabled)
        #expect((config.limits.perMinute, config.limits.perHour, config.limits.perDay) == (10, 100, 500))
        #expect((config.limits.globalConcurrent, config.limits.globalHourly) == (100, 1000))
        #expect((config.limits.userDailyCostUSD, config.limits.globalDailyCostUSD) == (5.0, 100.0))
        #expect((config.redis.host, config.redis.port, config.redis.database, config.redis.maxConnections) == ("localhost", 6379, 0, 10))
        #expect((config.server.host, config.server.port, config.server.workers) == ("0.0.0.0", 8000, 3))
        #expect(config.database.maxConnections == 5)
        #expect((config.auth.tokenLifetimeSeconds, config.auth.bcryptCost) == (3600, 12))
        #expect(config.llm.baseURL == "https://router.huggingface.co/v1")
        #expect((config.llm.timeoutSeconds, config.llm.maxTokens, config.llm.breakerFailures, config.llm.breakerResetSeconds) == (20, 512, 5, 30))
        #expect((config.answers.cacheEnabled, config.answers.cacheTTLSeconds) == (true, 3600))
        #expect((config.answers.retrievalTopK, config.answers.contextMaxTokens, config.answers.queryMaxCharacters) == (5, 1500, 2000))
        #expect((config.limits.concurrencyLeaseSeconds, config.limits.redisTimeoutMilliseconds, config.limits.failMode) == (15, 50, .open))
        #expect(config.limits.failOpenCostUSDPerWorker == 1.0)
        #expect((config.server.workerTimeout, config.server.gracefulTimeout, config.server.shutdownDelay, config.server.keepAliveTimeout) == (30, 30, 0, 75))
        #expect(config.server.metricsPort == nil)
        #expect((config.observability.logLevel, config.observability.logFormat, config.observability.traceSampleRatio) == (.info, .logfmt, 1.0))
    }

    /// Each rule of the key table: a bad value is refused, naming its key.
    @Test(arguments: [
        ("PORT", "70000"), ("PORT", "eighty"), ("WORKERS", "0"), ("WORKERS", "1000"),
        ("WORKER_TIMEOUT", "1"), ("GRACEFUL_TIMEOUT", "0"), ("SHUTDOWN_DELAY", "-1"), ("KEEPALIVE_TIMEOUT", "0"), ("REQUEST_READ_TIMEOUT", "0"),
        ("METRICS_PORT", "0"),
        ("REDIS_PORT", "0"), ("REDIS_DB", "-1"), ("REDIS_MAX_CONNECTIONS", "0"),
        ("DATABASE_URL", "mysql://localhost/db"), ("DATABASE_MAX_CONNECTIONS", "0"),
        ("JWT_SECRET", "too-short"), ("JWT_TTL_SECONDS", "10"), ("BCRYPT_COST", "3"), ("BCRYPT_COST", "32"),
        ("LLM_PROVIDER", "gpt"), ("LLM_BASE_URL", "ftp://example.org"), ("LLM_TIMEOUT_SECONDS", "0"),
        ("LLM_MAX_TOKENS", "0"), ("LLM_PRICE_INPUT_PER_1K", "-0.1"), ("LLM_PRICE_OUTPUT_PER_1K", "cheap"),
        ("LLM_ALLOW_UNPRICED", "perhaps"), ("LLM_UNPRICED_RESERVE_USD", "0"),
        ("LLM_BREAKER_FAILURES", "0"), ("LLM_BREAKER_RESET_SECONDS", "0"),
        ("RATE_LIMITING_ENABLED", "maybe"), ("RATE_LIMIT_PER_MINUTE", "0"), ("RATE_LIMIT_PER_HOUR", "ten"),
        ("RATE_LIMIT_PER_DAY", "1.5"), ("GLOBAL_CONCURRENT_LIMIT", "0"), ("GLOBAL_HOURLY_LIMIT", "-5"),
        ("USER_DAILY_COST_LIMIT", "-1"), ("GLOBAL_DAILY_COST_LIMIT", "lots"), ("GLOBAL_DAILY_COST_LIMIT", "nan"),
        ("CONCURRENCY_LEASE_SECONDS", "1"), ("RATE_LIMIT_TIMEOUT_MS", "0"), ("RATE_LIMIT_FAIL_MODE", "sideways"),
        ("FAILOPEN_COST_USD_PER_WORKER", "-1"),
        ("CACHE_ENABLED", "2"), ("CACHE_TTL_SECONDS", "0"), ("CACHE_MAX_ENTRY_BYTES", "100"), ("RETRIEVAL_TOP_K", "0"), ("CONTEXT_MAX_TOKENS", "10"),
        ("QUERY_MAX_CHARS", "0"),
        ("LOG_LEVEL", "loud"), ("LOG_FORMAT", "xml"), ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"), ("OTEL_TRACES_SAMPLER", "sometimes"), ("OTEL_SDK_DISABLED", "perhaps"),
    ])
    func invalidValueNamesItsKey(key: String, value: String) {
        let error = #expect(throws: ConfigurationError.self) { try configuration([key: value]) }
        #expect(error?.key == key)
        #expect(error?.code == .invalidValue)
        #expect(error?.description.contains("accepted:") == true)
    }

    @Test func rangeIsNamedInTheMessage() {
        let error = #expect(throws: ConfigurationError.self) { try configuration(["PORT": "70000"]) }
        #expect(error?.description == "configuration error: PORT: '70000' is out of range (from environment); accepted: an integer in 0...65535")
    }

    @Test func jwtSecretIsRequired() {
        let reader = ConfigurationReader(environment: ["LLM_PROVIDER": "local"])
        let error = #expect(throws: ConfigurationError.self) { try ServerConfiguration(reading: reader, cpuCount: 1) }
        #expect(error?.key == "JWT_SECRET")
        #expect(error?.code == .missingValue)
    }

    @Test func gracefulTimeoutMustOutlastTheLLMTimeout() throws {
        let error = #expect(throws: ConfigurationError.self) { try configuration(["GRACEFUL_TIMEOUT": "24", "LLM_TIMEOUT_SECONDS": "20"]) }
        #expect(error?.key == "GRACEFUL_TIMEOUT")
        #expect(error?.code == .conflict)
        _ = try configuration(["GRACEFUL_TIMEOUT": "25", "LLM_TIMEOUT_SECONDS": "20"])
    }

    @Test func paidProviderNeedsAModel() {
        let error = #expect(throws: ConfigurationError.self) {
            try configuration(["LLM_PROVIDER": "huggingface", "LLM_PRICE_INPUT_PER_1K": "0.001", "LLM_PRICE_OUTPUT_PER_1K": "0.002"])
        }
        #expect(error?.key == "LLM_MODEL")
    }

    @Test func paidProviderWithBudgetNeedsPrices() throws {
        let paid = ["LLM_PROVIDER": "openai", "LLM_MODEL": "m"]
        let missingBoth = #expect(throws: ConfigurationError.self) { try configuration(paid) }
        #expect(missingBoth?.key == "LLM_PRICE_INPUT_PER_1K")
        let missingOutput = #expect(throws: ConfigurationError.self) { try configuration(paid.merging(["LLM_PRICE_INPUT_PER_1K": "0.001"]) { $1 }) }
        #expect(missingOutput?.key == "LLM_PRICE_OUTPUT_PER_1K")
        // Allowed unpriced only with a reserve.
        let noReserve = #expect(throws: ConfigurationError.self) { try configuration(paid.merging(["LLM_ALLOW_UNPRICED": "true"]) { $1 }) }
        #expect(noReserve?.key == "LLM_UNPRICED_RESERVE_USD")
        _ = try configuration(paid.merging(["LLM_ALLOW_UNPRICED": "true", "LLM_UNPRICED_RESERVE_USD": "0.05"]) { $1 })
        _ = try configuration(paid.merging(["LLM_PRICE_INPUT_PER_1K": "0.001", "LLM_PRICE_OUTPUT_PER_1K": "0.002"]) { $1 })
        // With limiting off no budget is enforced, so prices are not needed.
        _ = try configuration(paid.merging(["RATE_LIMITING_ENABLED": "false"]) { $1 })
    }

    @Test func metricsHostNeedsAPort() throws {
        let error = #expect(throws: ConfigurationError.self) { try configuration(["METRICS_HOST": "127.0.0.1"]) }
        #expect(error?.key == "METRICS_HOST")
        let (config, _) = try configuration(["METRICS_PORT": "9100"])
        #expect(config.server.metricsHost == "0.0.0.0")
    }

    @Test func booleansAndChoicesIgnoreCase() throws {
        let (config, _) = try configuration(["RATE_LIMITING_ENABLED": "OFF", "LOG_LEVEL": "Debug", "RATE_LIMIT_FAIL_MODE": "CLOSED"])
        #expect(config.limits.enabled == false)
        #expect(config.observability.logLevel == .debug)
        #expect(config.limits.failMode == .closed)
    }

    @Test func environmentBeatsTheFileWhichBeatsTheDefault() throws {
        let file = try EnvironmentFile(path: "/etc/x.env", text: "RATE_LIMIT_PER_MINUTE=20\nRATE_LIMIT_PER_HOUR=200\n")
        let (config, reader) = try configuration(["RATE_LIMIT_PER_MINUTE": "30"], file: file)
        #expect(config.limits.perMinute == 30)
        #expect(config.limits.perHour == 200)
        #expect(config.limits.perDay == 500)
        let origins = Dictionary(uniqueKeysWithValues: reader.resolved.map { ($0.key, $0.origin) })
        #expect(origins["RATE_LIMIT_PER_MINUTE"] == .environment)
        #expect(origins["RATE_LIMIT_PER_HOUR"] == .file(path: "/etc/x.env", line: 2))
        #expect(origins["RATE_LIMIT_PER_DAY"] == .defaultValue)
    }

    @Test func tracingIsOnWithAnEndpointUnlessTheSDKIsDisabled() throws {
        #expect(try configuration([:]).0.observability.tracingEnabled == false)
        #expect(try configuration(["OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"]).0.observability.tracingEnabled)
        #expect(try configuration(["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"]).0.observability.tracingEnabled)
        #expect(try configuration(["OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"]).0.observability.tracingEnabled == false)
    }

    @Test func secretsAreMaskedInResolvedValuesAndErrors() throws {
        let (_, reader) = try configuration([
            "REDIS_PASSWORD": "redis-hunter2",
            "HF_API_TOKEN": "hf_hunter2",
            "DATABASE_URL": "postgresql://app:pg-hunter2@db:5432/scribes?sslmode=require&password=pg-hunter3",
            "OTEL_EXPORTER_OTLP_HEADERS": "api-key=otel-hunter2",
        ])
        let shown = reader.resolved.map(\.displayValue).joined(separator: "\n")
        for secret in ["redis-hunter2", "hf_hunter2", "pg-hunter2", "pg-hunter3", "otel-hunter2", validEnvironment["JWT_SECRET"]!] {
            #expect(!shown.contains(secret))
        }
        let values = Dictionary(uniqueKeysWithValues: reader.resolved.map { ($0.key, $0.displayValue) })
        #expect(values["JWT_SECRET"] == ConfigurationReader.mask)
        #expect(values["DATABASE_URL"] == "postgresql://app:********@db:5432/scribes?sslmode=require&password=********")

        let error = #expect(throws: ConfigurationError.self) { try configuration(["JWT_SECRET": "short-hunter2"]) }
        #expect(error?.description.contains("hunter2") == false)
    }

    @Test func everyKeyIsReported() throws {
        let (_, reader) = try configuration([:])
        let keys = Set(reader.resolved.map(\.key))
        for key in ["HOST", "PORT", "WORKERS", "REDIS_PASSWORD", "DATABASE_URL", "JWT_SECRET", "HF_API_TOKEN", "LLM_PRICE_INPUT_PER_1K",
                    "GLOBAL_DAILY_COST_LIMIT", "FAILOPEN_COST_USD_PER_WORKER", "QUERY_MAX_CHARS", "OTEL_EXPORTER_OTLP_ENDPOINT", "LOG_FILE"] {
            #expect(keys.contains(key), "\(key) missing from check-config output")
        }
    }
}
