-- Agents keep the OSSA manifest they were registered from, verbatim: its
-- apiVersion, its format ("yaml" or "json") and its bytes, a BLOB so that
-- the body comes back byte for byte. Both manifest columns are NULL when
-- there is none.
ALTER TABLE agents ADD COLUMN api_version TEXT NOT NULL DEFAULT '';
ALTER TABLE agents ADD COLUMN manifest_format TEXT;
ALTER TABLE agents ADD COLUMN manifest_body BLOB;
