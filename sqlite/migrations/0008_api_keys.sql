-- API keys: only the SHA-256 of a key is kept, and its prefix, unique, which
-- finds the record when a request presents the key. Namespaces and scopes
-- are JSON arrays of text; timestamps are Unix microseconds, UTC. Safe to
-- run twice (IF NOT EXISTS).
CREATE TABLE IF NOT EXISTS api_keys (
    id           TEXT PRIMARY KEY,
    namespace    TEXT NOT NULL,
    name         TEXT NOT NULL DEFAULT '',
    prefix       TEXT NOT NULL UNIQUE,
    hash         BLOB NOT NULL,
    namespaces   TEXT NOT NULL CHECK (json_valid(namespaces)),
    scopes       TEXT NOT NULL CHECK (json_valid(scopes)),
    created_by   TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    revoked_at   INTEGER
) STRICT;

CREATE INDEX IF NOT EXISTS api_keys_namespace_id ON api_keys (namespace, id);
