-- API keys: only the SHA-256 of a key is kept, and its prefix, unique, which
-- finds the record when a request presents the key.
--
-- Safe to run twice (IF NOT EXISTS), as every migration must be.
CREATE TABLE IF NOT EXISTS api_keys (
    id           uuid PRIMARY KEY,
    namespace    text NOT NULL,
    name         text NOT NULL DEFAULT '',
    prefix       text NOT NULL UNIQUE,
    hash         bytea NOT NULL,
    namespaces   text[] NOT NULL,
    scopes       text[] NOT NULL,
    created_by   text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz
);

CREATE INDEX IF NOT EXISTS api_keys_namespace_id ON api_keys (namespace, id);
