-- Agents keep the OSSA manifest they were registered from, verbatim: its
-- apiVersion, its format ("yaml" or "json") and its bytes. bytea, not
-- jsonb or text, so that the body comes back byte for byte, comments,
-- key order and all. Both manifest columns are NULL when there is none.
--
-- Safe to run twice (IF NOT EXISTS), as every migration must be.
ALTER TABLE agents ADD COLUMN IF NOT EXISTS api_version text NOT NULL DEFAULT '';
ALTER TABLE agents ADD COLUMN IF NOT EXISTS manifest_format text;
ALTER TABLE agents ADD COLUMN IF NOT EXISTS manifest_body bytea;
