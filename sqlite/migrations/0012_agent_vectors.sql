-- The embedded vector index of semantic discovery (sqlite.VectorIndex):
-- each agent's embedding, a little-endian float32 BLOB, with the
-- attributes searches filter on, from which the index in memory is
-- rebuilt at start. No foreign key to agents: the discovery indexer
-- deletes an agent's vector when the agent goes, and the index in memory
-- must hear of it the same way. agent_vector_model is one row naming the
-- embedder (model and dimension) every vector comes from; opening the
-- index for another one empties agent_vectors. Safe to run twice
-- (IF NOT EXISTS).
CREATE TABLE IF NOT EXISTS agent_vectors (
    agent_id     TEXT PRIMARY KEY,
    namespace    TEXT NOT NULL,
    vector       BLOB NOT NULL,
    type         TEXT NOT NULL,
    status       TEXT NOT NULL,
    capabilities TEXT NOT NULL DEFAULT '[]',
    labels       TEXT NOT NULL DEFAULT '{}'
) STRICT;

CREATE TABLE IF NOT EXISTS agent_vector_model (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    model     TEXT NOT NULL,
    dimension INTEGER NOT NULL
) STRICT;
