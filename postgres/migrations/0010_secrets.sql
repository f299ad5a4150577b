-- Secrets: values agents authenticate with, encrypted by the gateway
-- (package secrets) before they reach the database, which holds only the
-- ciphertext and the ID of the key it is sealed under. Names are unique
-- per namespace. Rotation finds the secrets sealed under another key than
-- the current one by key_id.
--
-- Safe to run twice, as every migration must be.
CREATE TABLE IF NOT EXISTS secrets (
    namespace  text NOT NULL,
    name       text NOT NULL,
    key_id     text NOT NULL,
    ciphertext bytea NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (namespace, name)
);

CREATE INDEX IF NOT EXISTS secrets_key_id ON secrets (key_id);

-- An agent names the secret it authenticates with, and how it is sent:
-- {"header": "Authorization", "scheme": "Bearer", "secret": "billing-token"},
-- or NULL for an agent called without credentials.
ALTER TABLE agents ADD COLUMN IF NOT EXISTS auth jsonb;
