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
        Migration(version: 2, name: "retrieval: term statistics, question words, KJV spellings", statements: [
            // How many verses hold each lexeme, and the library's size: the rarity weights (PassageSearch).
            "CREATE TABLE search_terms (lexeme text PRIMARY KEY, documents integer NOT NULL)",
            "CREATE TABLE search_corpus (id boolean PRIMARY KEY DEFAULT true CHECK (id), documents integer NOT NULL, average_length double precision NOT NULL)",
            """
            CREATE FUNCTION refresh_search_statistics() RETURNS void LANGUAGE sql AS $$
                DELETE FROM search_terms;
                INSERT INTO search_terms SELECT word, ndoc FROM ts_stat('SELECT search FROM scripture_verses');
                DELETE FROM search_corpus;
                INSERT INTO search_corpus SELECT true, count(*), coalesce(avg(length(search)), 1) FROM scripture_verses;
            $$
            """,
            "SELECT refresh_search_statistics()",
            // Words that frame a question rather than name its topic, as english lexemes (docs/retrieval.md).
            "CREATE TABLE search_question_words (lexeme text PRIMARY KEY)",
            """
            INSERT INTO search_question_words
            SELECT DISTINCT unnest(tsvector_to_array(to_tsvector('english',
                'say says said tell telling bible bibles scripture scriptures verse verses passage passages
                 teach teaches teaching mean means meaning explain describe talk talks find')))
            """,
            // The KJV's spellings of names and its archaic forms, each mapped to every form (docs/retrieval.md).
            "CREATE TABLE search_synonyms (lexeme text PRIMARY KEY, query tsquery NOT NULL)",
            """
            INSERT INTO search_synonyms
            SELECT lexeme, to_tsquery('english', forms)
            FROM (VALUES ('melchizedek | melchisedec'), ('elijah | elias'), ('isaiah | esaias'), ('noah | noe'), ('kill | slew | slay | slain'))
                AS spellings (forms),
                LATERAL unnest(tsvector_to_array(to_tsvector('english', replace(forms, '|', ' ')))) AS lexeme
            """,
        ]),
        Migration(version: 3, name: "retrieval by meaning: passage vectors", statements: [
            // One vector per verse and model (docs/retrieval.md): a model's vectors are compared only with its own.
            """
            CREATE TABLE scripture_vectors (
                model text NOT NULL,
                ref text NOT NULL REFERENCES scripture_verses (ref) ON DELETE CASCADE,
                vector bytea NOT NULL,
                PRIMARY KEY (model, ref)
            )
            """,
            """
            CREATE TABLE note_vectors (
                note_id bigint NOT NULL REFERENCES notes (id) ON DELETE CASCADE,
                model text NOT NULL,
                vector bytea NOT NULL,
                PRIMARY KEY (note_id, model)
            )
            """,
        ]),
        Migration(version: 4, name: "retrieval by meaning: a topical index", statements: [
            // Nave's Topical Bible's subjects and the verses each lists (docs/retrieval.md).
            "CREATE TABLE library_topics (label text PRIMARY KEY, refs text[] NOT NULL)",
            """
            CREATE TABLE topic_vectors (
                model text NOT NULL,
                label text NOT NULL REFERENCES library_topics (label) ON DELETE CASCADE,
                vector bytea NOT NULL,
                PRIMARY KEY (model, label)
            )
            """,
        ]),
    ]

    /// The schema version this binary needs.
    public static var latestVersion: Int { all.last?.version ?? 0 }
}
