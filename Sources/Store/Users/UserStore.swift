import HummingbirdBcrypt
import NIOPosix
import PostgresClient

/// A registered user.
public struct User: Sendable, Equatable {
    public let id: Int
    public let email: String
}

/// Users and their bcrypt password hashes.
///
/// Passwords are stored only as bcrypt hashes; hashing and verifying run on
/// the blocking thread pool because bcrypt takes tens of milliseconds by design.
public struct UserStore: Sendable {
    /// bcrypt reads at most 72 bytes; longer passwords would be silently cut.
    public static let passwordBytes = 8...72
    let pool: PostgresConnectionPool
    let threadPool: NIOThreadPool

    public init(pool: PostgresConnectionPool, threadPool: NIOThreadPool) {
        self.pool = pool
        self.threadPool = threadPool
    }

    /// Creates a user.
    /// - Throws: ``StoreError`` `.invalidInput` for a malformed email or a
    ///   password outside ``passwordBytes``, `.duplicateEmail` when the email
    ///   (in any case) is taken.
    public func addUser(email rawEmail: String, password: String, bcryptCost: Int) async throws -> User {
        let email = try Self.validatedEmail(rawEmail)
        guard Self.passwordBytes.contains(password.utf8.count) else {
            throw StoreError(code: .invalidInput, message: "the password must be \(Self.passwordBytes.lowerBound) to \(Self.passwordBytes.upperBound) bytes long")
        }
        let hash = try await threadPool.runIfActive { Bcrypt.hash(password, cost: UInt8(bcryptCost)) }
        do {
            let result = try await pool.query(
                "INSERT INTO users (email, password_hash) VALUES ($1, $2) RETURNING id", [email, hash])
            return User(id: try result.rows[0].decode(required: "id"), email: email)
        } catch let error as PostgresError where error.code == .constraintViolation && error.constraint == "users_email_key" {
            throw StoreError(code: .duplicateEmail, message: "a user with email \(email) already exists")
        }
    }

    /// The user with `email` (any case), or nil.
    public func user(email: String) async throws -> User? {
        let result = try await pool.query("SELECT id, email FROM users WHERE lower(email) = lower($1)", [email])
        return try result.rows.first.map { User(id: try $0.decode(required: "id"), email: try $0.decode(required: "email")) }
    }

    /// Whether a user with `id` exists (a token may outlive its user, or name one that never was).
    public func exists(id: Int) async throws -> Bool {
        !(try await pool.query("SELECT 1 FROM users WHERE id = $1", [id]).rows.isEmpty)
    }

    /// The user whose password matches, or nil for an unknown email or a wrong password.
    /// An unknown email still costs one bcrypt verification (against a decoy
    /// hash of the default cost), so response times do not tell which emails exist.
    public func authenticate(email: String, password: String) async throws -> User? {
        let row = try await pool.query("SELECT id, email, password_hash FROM users WHERE lower(email) = lower($1)", [email]).rows.first
        let hash: String? = try row?.decode(required: "password_hash")
        let matches = try await threadPool.runIfActive {
            Bcrypt.verify(password, hash: hash ?? Self.decoyHash) && hash != nil
        }
        guard matches, let row else { return nil }
        return User(id: try row.decode(required: "id"), email: try row.decode(required: "email"))
    }

    /// Hashed once, on first use, on the blocking pool.
    private static let decoyHash = Bcrypt.hash("scribes-assistant decoy password", cost: 12)

    /// `email` trimmed, if it looks like an address: one `@`, text on both sides, no spaces, at most 254 bytes.
    static func validatedEmail(_ raw: String) throws(StoreError) -> String {
        let email = raw.trimmingCharacters()
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard !email.contains(where: \.isWhitespace), parts.count == 2, !parts[0].isEmpty, parts[1].contains("."),
              !parts[1].hasPrefix("."), !parts[1].hasSuffix("."), email.utf8.count <= 254
        else {
            throw StoreError(code: .invalidInput, message: "'\(raw)' is not an email address")
        }
        return email
    }
}

extension String {
    func trimmingCharacters() -> String {
        var view = Substring(self)
        while view.first?.isWhitespace == true { view = view.dropFirst() }
        while view.last?.isWhitespace == true { view = view.dropLast() }
        return String(view)
    }
}
