-- Event tickets (platform.EventTicket): single-use, short-lived credentials
-- that open an event stream from a browser, on whichever replica. Only the
-- SHA-256 of a ticket is kept; redeeming one deletes its row.
--
-- Safe to run twice (IF NOT EXISTS), as every migration must be.
CREATE TABLE IF NOT EXISTS event_tickets (
    hash       bytea PRIMARY KEY,
    kind       text NOT NULL,
    subject    text NOT NULL,
    namespace  text NOT NULL,
    namespaces text[] NOT NULL,
    scopes     text[] NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE INDEX IF NOT EXISTS event_tickets_expires_at ON event_tickets (expires_at);
