-- Events name the namespace of what they concern (the agent, workflow or
-- run), so that a reader sees only the events of the namespaces it may
-- see. Every event written before is of the default namespace, the only
-- one the gateway served; a constant default adds the column without
-- rewriting the table. Replays read one namespace's events after an ID, in
-- ID order, from events_namespace.
--
-- Safe to run twice, as every migration must be.
ALTER TABLE events ADD COLUMN IF NOT EXISTS namespace text NOT NULL DEFAULT 'default';
CREATE INDEX IF NOT EXISTS events_namespace ON events (namespace, id);
