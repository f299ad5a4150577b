-- Events are the outbox of every state change: each is inserted in the
-- transaction of the change it describes, with id NULL. SequenceEvents then
-- gives the committed ones their stream position (id) in insertion order
-- (pk), holding the write lock so that positions follow commit order with
-- no gap; event_sequence.last is never lowered, so pruning never makes an
-- id come back. time is Unix microseconds; stream is "agent", "workflow"
-- or "run"; agent and run_id are what channels match.
CREATE TABLE events (
    pk     INTEGER PRIMARY KEY AUTOINCREMENT,
    id     INTEGER UNIQUE,
    type   TEXT NOT NULL,
    time   INTEGER NOT NULL,
    stream TEXT NOT NULL,
    agent  TEXT NOT NULL DEFAULT '',
    run_id TEXT NOT NULL DEFAULT '',
    data   TEXT NOT NULL CHECK (json_valid(data))
) STRICT;
CREATE INDEX events_unsequenced ON events (pk) WHERE id IS NULL;
CREATE INDEX events_run ON events (run_id, id) WHERE run_id <> '';
CREATE INDEX events_agent ON events (agent, id) WHERE agent <> '';
CREATE INDEX events_time ON events (time);

CREATE TABLE event_sequence (
    one  INTEGER PRIMARY KEY CHECK (one = 1),
    last INTEGER NOT NULL
) STRICT;
INSERT INTO event_sequence (one, last) VALUES (1, 0);
