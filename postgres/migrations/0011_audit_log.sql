-- The audit log: one row per audited change, written in the change's
-- transaction, and per run of denied requests (the gateway's, outside any
-- transaction). id is a UUIDv7 whose time is the row's, so "id DESC" lists
-- newest first. principal_kind and principal_subject are '' when the
-- caller is unknown (a 401), namespace '' when no namespace is known.
-- count is how many like denials the row stands for, 1 for a change.
--
-- Safe to run twice, as every migration must be.
CREATE TABLE IF NOT EXISTS audit_log (
    id                uuid PRIMARY KEY,
    time              timestamptz NOT NULL,
    principal_kind    text NOT NULL DEFAULT '',
    principal_subject text NOT NULL DEFAULT '',
    namespace         text NOT NULL DEFAULT '',
    action            text NOT NULL,
    target_kind       text NOT NULL,
    target_id         text NOT NULL DEFAULT '',
    target_name       text NOT NULL DEFAULT '',
    request_id        text NOT NULL DEFAULT '',
    source            text NOT NULL DEFAULT '',
    outcome           text NOT NULL,
    detail            text NOT NULL DEFAULT '',
    count             integer NOT NULL DEFAULT 1 CHECK (count >= 1)
);

-- Listing one namespace's records newest first; pruning by time.
CREATE INDEX IF NOT EXISTS audit_log_namespace_id ON audit_log (namespace, id DESC);
CREATE INDEX IF NOT EXISTS audit_log_time ON audit_log (time);
