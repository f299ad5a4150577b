-- Events are the outbox of every state change: each is inserted in the
-- transaction of the change it describes, with id NULL. SequenceEvents then
-- gives the committed ones their stream position (id) in insertion order
-- (pk), holding the one row of event_sequence so that positions follow
-- commit order with no gap; event_sequence.last is never lowered, so
-- pruning never makes an id come back. stream is "agent", "workflow" or
-- "run"; agent and run_id are what channels match.
--
-- Safe to run twice, as every migration must be.
CREATE TABLE IF NOT EXISTS events (
    pk     bigserial PRIMARY KEY,
    id     bigint UNIQUE,
    type   text NOT NULL,
    time   timestamptz NOT NULL,
    stream text NOT NULL,
    agent  text NOT NULL DEFAULT '',
    run_id uuid,
    data   json NOT NULL
);
CREATE INDEX IF NOT EXISTS events_unsequenced ON events (pk) WHERE id IS NULL;
CREATE INDEX IF NOT EXISTS events_run ON events (run_id, id) WHERE run_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_agent ON events (agent, id) WHERE agent <> '';
CREATE INDEX IF NOT EXISTS events_time ON events (time);

CREATE TABLE IF NOT EXISTS event_sequence (
    one  boolean PRIMARY KEY DEFAULT true CHECK (one),
    last bigint NOT NULL
);
INSERT INTO event_sequence (last) VALUES (0) ON CONFLICT DO NOTHING;
