-- Secrets: values agents authenticate with, encrypted by the gateway
-- (package secrets) before they reach the database, which holds only the
-- ciphertext and the ID of the key it is sealed under. Names are unique
-- per namespace; timestamps are Unix microseconds, UTC. Rotation finds
-- the secrets sealed under another key than the current one by key_id.
CREATE TABLE secrets (
    namespace  TEXT NOT NULL,
    name       TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    ciphertext BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, name)
) STRICT;

CREATE INDEX secrets_key_id ON secrets (key_id);

-- An agent names the secret it authenticates with, and how it is sent:
-- {"header": "Authorization", "scheme": "Bearer", "secret": "billing-token"},
-- or NULL for an agent called without credentials.
ALTER TABLE agents ADD COLUMN auth TEXT CHECK (auth IS NULL OR json_valid(auth));
