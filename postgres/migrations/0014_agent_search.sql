-- Full-text search of agents (platform.AgentTextSearch): a tsvector of each
-- agent's name and capabilities (weight A), description (B) and labels (C),
-- English stemming, kept by a trigger in the transaction that writes the
-- agent, under a GIN index. '-', '_', '.', ':' and '/' split words, so that
-- "extract_line_items" and "invoice-parser" are words.
--
-- The functions keep the search_path of their creation, the store's schema,
-- so that the trigger finds them whatever a session's search_path.
--
-- Safe to run twice, as every migration must be.
ALTER TABLE agents ADD COLUMN IF NOT EXISTS search tsvector;

CREATE OR REPLACE FUNCTION agents_search_vector(name text, description text, capabilities text[], labels jsonb)
RETURNS tsvector LANGUAGE sql IMMUTABLE SET search_path FROM CURRENT AS $$
    SELECT setweight(to_tsvector('english', regexp_replace(name, '[-_.:/]', ' ', 'g')), 'A') ||
           setweight(to_tsvector('english', regexp_replace(array_to_string(capabilities, ' '), '[-_.:/]', ' ', 'g')), 'A') ||
           setweight(to_tsvector('english', description), 'B') ||
           setweight(to_tsvector('english', regexp_replace(
               (SELECT coalesce(string_agg(key || ' ' || value, ' '), '') FROM jsonb_each_text(labels)),
               '[-_.:/]', ' ', 'g')), 'C')
$$;

CREATE OR REPLACE FUNCTION agents_search_update() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    NEW.search := agents_search_vector(NEW.name, NEW.description, NEW.capabilities, NEW.labels);
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS agents_search ON agents;
CREATE TRIGGER agents_search BEFORE INSERT OR UPDATE OF name, description, capabilities, labels ON agents
    FOR EACH ROW EXECUTE FUNCTION agents_search_update();

-- The agents stored before this migration.
UPDATE agents SET search = agents_search_vector(name, description, capabilities, labels) WHERE search IS NULL;

CREATE INDEX IF NOT EXISTS agents_search ON agents USING gin (search);
