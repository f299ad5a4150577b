-- Event tickets (platform.EventTicket): single-use, short-lived credentials
-- that open an event stream from a browser. Only the SHA-256 of a ticket is
-- kept; redeeming one deletes its row. Namespaces and scopes are JSON arrays
-- of text; expires_at is Unix microseconds, UTC. Safe to run twice (IF NOT
-- EXISTS).
CREATE TABLE IF NOT EXISTS event_tickets (
    hash       BLOB PRIMARY KEY,
    kind       TEXT NOT NULL,
    subject    TEXT NOT NULL,
    namespace  TEXT NOT NULL,
    namespaces TEXT NOT NULL CHECK (json_valid(namespaces)),
    scopes     TEXT NOT NULL CHECK (json_valid(scopes)),
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS event_tickets_expires_at ON event_tickets (expires_at);
