-- Full-text search of agents (platform.AgentTextSearch): an FTS5 index of
-- each agent's name, description, capabilities and labels, stemmed (porter)
-- and split at every character that is not a letter or digit, so that
-- "extract_line_items" and "invoice-parser" are words. Triggers keep it in
-- the transaction that writes the agent. agent_search_docs gives each agent
-- the integer that is its row in the FTS5 table (agents' own rowid may change
-- with VACUUM). Safe to run twice (IF NOT EXISTS).
CREATE TABLE IF NOT EXISTS agent_search_docs (
    docid    INTEGER PRIMARY KEY,
    agent_id TEXT NOT NULL UNIQUE REFERENCES agents (id) ON DELETE CASCADE
) STRICT;

CREATE VIRTUAL TABLE IF NOT EXISTS agent_search USING fts5 (
    name, description, capabilities, labels,
    tokenize = 'porter unicode61'
);

CREATE TRIGGER IF NOT EXISTS agent_search_insert AFTER INSERT ON agents BEGIN
    INSERT INTO agent_search_docs (agent_id) VALUES (NEW.id);
    INSERT INTO agent_search (rowid, name, description, capabilities, labels)
    VALUES ((SELECT docid FROM agent_search_docs WHERE agent_id = NEW.id), NEW.name, NEW.description,
            (SELECT coalesce(group_concat(value, ' '), '') FROM json_each(NEW.capabilities)),
            (SELECT coalesce(group_concat(key || ' ' || value, ' '), '') FROM json_each(NEW.labels)));
END;

CREATE TRIGGER IF NOT EXISTS agent_search_update AFTER UPDATE OF name, description, capabilities, labels ON agents BEGIN
    DELETE FROM agent_search WHERE rowid = (SELECT docid FROM agent_search_docs WHERE agent_id = NEW.id);
    INSERT INTO agent_search (rowid, name, description, capabilities, labels)
    VALUES ((SELECT docid FROM agent_search_docs WHERE agent_id = NEW.id), NEW.name, NEW.description,
            (SELECT coalesce(group_concat(value, ' '), '') FROM json_each(NEW.capabilities)),
            (SELECT coalesce(group_concat(key || ' ' || value, ' '), '') FROM json_each(NEW.labels)));
END;

CREATE TRIGGER IF NOT EXISTS agent_search_delete AFTER DELETE ON agents BEGIN
    DELETE FROM agent_search WHERE rowid = (SELECT docid FROM agent_search_docs WHERE agent_id = OLD.id);
    DELETE FROM agent_search_docs WHERE agent_id = OLD.id;
END;

-- The agents stored before this migration.
INSERT INTO agent_search_docs (agent_id)
SELECT id FROM agents WHERE id NOT IN (SELECT agent_id FROM agent_search_docs);
INSERT INTO agent_search (rowid, name, description, capabilities, labels)
SELECT d.docid, a.name, a.description,
       (SELECT coalesce(group_concat(value, ' '), '') FROM json_each(a.capabilities)),
       (SELECT coalesce(group_concat(key || ' ' || value, ' '), '') FROM json_each(a.labels))
FROM agents a JOIN agent_search_docs d ON d.agent_id = a.id
WHERE d.docid NOT IN (SELECT rowid FROM agent_search);
