import PostgresClient
import Testing
import TestSupport

@Suite struct PostgresConnectionTests {
    @Test(arguments: [
        "plain text",
        "Unicode: Grâce, 恩典, благодать, 🙏🏽, e\u{301}",
        "metacharacters: '; DROP TABLE users; -- $1 \\x00 \\\\ \"quoted\" %_",
        "",
    ])
    func textParametersRoundTrip(value: String) throws {
        let connection = try PostgresConnection(url: try TestEnvironment.databaseURL)
        let result = try connection.query("SELECT $1::text AS value, length($1::text) AS characters", [value])
        #expect(try result.rows[0].decode(required: "value", as: String.self) == value)
        #expect(try result.rows[0].decode(required: "characters", as: Int.self) == value.unicodeScalars.count)
    }

    @Test func nullRoundTripsAsNil() throws {
        let connection = try PostgresConnection(url: try TestEnvironment.databaseURL)
        let missing: String? = nil
        let result = try connection.query("SELECT $1::text AS value, $1::text IS NULL AS is_null", [missing])
        #expect(try result.rows[0].decode("value", as: String.self) == nil)
        #expect(try result.rows[0].decode(required: "is_null", as: Bool.self))
    }

    @Test func oneMegabyteValueRoundTrips() throws {
        let connection = try PostgresConnection(url: try TestEnvironment.databaseURL)
        let value = String(repeating: "grâce ", count: 1_048_576 / 7)
        let result = try connection.query("SELECT $1::text AS value, octet_length($1::text) AS bytes", [value])
        #expect(try result.rows[0].decode(required: "value", as: String.self) == value)
        #expect(try result.rows[0].decode(required: "bytes", as: Int.self) == value.utf8.count)
        #expect(value.utf8.count > 1_000_000)
    }

    @Test func numbersAndBooleansRoundTrip() throws {
        let connection = try PostgresConnection(url: try TestEnvironment.databaseURL)
        let row = try connection.query("SELECT $1::bigint AS i, $2::float8 AS d, $3::boolean AS b", [Int.min, 0.1, true]).rows[0]
        #expect(try row.decode(required: "i", as: Int.self) == Int.min)
        #expect(try row.decode(required: "d", as: Double.self) == 0.1)
        #expect(try row.decode(required: "b", as: Bool.self) == true)
    }

    @Test func nulByteIsRefusedClearly() throws {
        let connection = try PostgresConnection(url: try TestEnvironment.databaseURL)
        let error = #expect(throws: PostgresError.self) { try connection.query("SELECT $1::text", ["a\u{0}b"]) }
        #expect(error?.code == .invalidParameter)
        #expect(error?.message.contains("$1") == true)
    }

    @Test func syntaxErrorIsAQueryErrorWithSQLState() throws {
        let connection = try PostgresConnection(url: try TestEnvironment.databaseURL)
        let error = #expect(throws: PostgresError.self) { try connection.query("SELEC 1") }
        #expect(error?.code == .queryFailed)
        #expect(error?.sqlState == "42601")
        // The connection stays usable.
        #expect(try connection.query("SELECT 1 AS one").rows[0].decode(required: "one", as: Int.self) == 1)
    }

    @Test func uniqueViolationIsAConstraintViolationNamingTheConstraint() throws {
        let connection = try PostgresConnection(url: try TestEnvironment.databaseURL)
        try connection.query("CREATE TEMPORARY TABLE things (name text CONSTRAINT things_name_key UNIQUE)")
        try connection.query("INSERT INTO things VALUES ($1)", ["a"])
        let error = #expect(throws: PostgresError.self) { try connection.query("INSERT INTO things VALUES ($1)", ["a"]) }
        #expect(error?.code == .constraintViolation)
        #expect(error?.sqlState == "23505")
        #expect(error?.constraint == "things_name_key")
    }

    @Test func refusedConnectionIsAConnectionError() throws {
        let port = try freeLoopbackPort()
        let error = #expect(throws: PostgresError.self) { try PostgresConnection(url: "postgresql://postgres@127.0.0.1:\(port)/postgres") }
        #expect(error?.code == .connectionFailed)
        #expect(error?.message.contains("refused") == true)
    }

    @Test func transactionRollsBackWhenTheBodyThrows() throws {
        let connection = try PostgresConnection(url: try TestEnvironment.databaseURL)
        try connection.query("CREATE TEMPORARY TABLE ledger (amount int)")
        struct Abort: Error {}
        #expect(throws: Abort.self) {
            try connection.transaction {
                try connection.query("INSERT INTO ledger VALUES (1)")
                throw Abort()
            }
        }
        #expect(try connection.query("SELECT count(*) AS n FROM ledger").rows[0].decode(required: "n", as: Int.self) == 0)
        #expect(try connection.query("INSERT INTO ledger VALUES (1), (2)").affectedRows == 2)
    }
}
