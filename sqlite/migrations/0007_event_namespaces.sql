-- Events name the namespace of what they concern (the agent, workflow or
-- run), so that a reader sees only the events of the namespaces it may
-- see. Every event written before is of the default namespace, the only
-- one the gateway served. Replays read one namespace's events after an ID,
-- in ID order, from events_namespace.
ALTER TABLE events ADD COLUMN namespace TEXT NOT NULL DEFAULT 'default';
CREATE INDEX events_namespace ON events (namespace, id);
