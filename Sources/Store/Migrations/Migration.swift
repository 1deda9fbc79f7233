/// One step of the schema, applied once, in order, inside a transaction.
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    let statements: [String]
}

extension Migration {
    /// Every migration this binary knows, oldest first. Append only: a shipped
    /// migration never changes.
    public static let all: [Migration] = [
        Migration(version: 1, name: "users, notes and the scripture library", statements: [
            """
            CREATE TABLE users (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                email text NOT NULL,
                password_hash text NOT NULL,
                notes_version bigint NOT NULL DEFAULT 0,
                created_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            "CREATE UNIQUE INDEX users_email_key ON users (lower(email))",
            """
            CREATE TABLE notes (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                title text NOT NULL,
                body text NOT NULL,
                preached_on date,
                speaker text,
                created_at timestamptz NOT NULL DEFAULT now(),
                updated_at timestamptz NOT NULL DEFAULT now(),
                search tsvector GENERATED ALWAYS AS (
                    setweight(to_tsvector('english', title), 'A')
                    || setweight(to_tsvector('english', coalesce(speaker, '')), 'C')
                    || setweight(to_tsvector('english', body), 'B')
                ) STORED
            )
            """,
            "CREATE INDEX notes_user_id_idx ON notes (user_id, id)",
            "CREATE INDEX notes_search_idx ON notes USING gin (search)",
            """
            CREATE TABLE scripture_verses (
                ref text PRIMARY KEY,
                book text NOT NULL,
                chapter integer NOT NULL CHECK (chapter > 0),
                verse integer NOT NULL CHECK (verse > 0),
                text text NOT NULL,
                search tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED
            )
            """,
            "CREATE INDEX scripture_verses_search_idx ON scripture_verses USING gin (search)",
        ]),
    ]

    /// The schema version this binary needs.
    public static var latestVersion: Int { all.last?.version ?? 0 }
}
