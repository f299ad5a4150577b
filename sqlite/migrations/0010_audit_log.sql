-- The audit log: one row per audited change, written in the change's
-- transaction, and per run of denied requests (the gateway's, outside any
-- transaction). id is a UUIDv7 whose time is the row's, so "id DESC" lists
-- newest first; time is Unix microseconds. principal_kind and
-- principal_subject are '' when the caller is unknown (a 401), namespace
-- '' when no namespace is known. count is how many like denials the row
-- stands for, 1 for a change.
CREATE TABLE audit_log (
    id                TEXT PRIMARY KEY,
    time              INTEGER NOT NULL,
    principal_kind    TEXT NOT NULL DEFAULT '',
    principal_subject TEXT NOT NULL DEFAULT '',
    namespace         TEXT NOT NULL DEFAULT '',
    action            TEXT NOT NULL,
    target_kind       TEXT NOT NULL,
    target_id         TEXT NOT NULL DEFAULT '',
    target_name       TEXT NOT NULL DEFAULT '',
    request_id        TEXT NOT NULL DEFAULT '',
    source            TEXT NOT NULL DEFAULT '',
    outcome           TEXT NOT NULL,
    detail            TEXT NOT NULL DEFAULT '',
    count             INTEGER NOT NULL DEFAULT 1 CHECK (count >= 1)
) STRICT;

-- Listing one namespace's records newest first; pruning by time.
CREATE INDEX audit_log_namespace_id ON audit_log (namespace, id DESC);
CREATE INDEX audit_log_time ON audit_log (time);
