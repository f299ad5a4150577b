-- The semantic-discovery index on pgvector (postgres.DB.OpenVectorIndex):
-- which embedder's vectors it holds. The vectors themselves live in
-- agent_vectors, which this migration does not create: its column's type,
-- vector(N), comes from the vector extension, which a server may lack (then
-- the store works and discovery uses another index), and N is the dimension
-- of the embedder the gateway runs, known only when it starts. So
-- OpenVectorIndex creates agent_vectors and its HNSW index, and records the
-- embedder's model and dimension in the one row of this table; when either
-- changes it drops agent_vectors and creates it anew, empty, and the
-- discovery indexer, finding fewer vectors than agents, re-indexes them all.
--
-- Safe to run twice, as every migration must be.
CREATE TABLE IF NOT EXISTS agent_vector_meta (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    model      text NOT NULL,
    dimension  int NOT NULL CHECK (dimension > 0),
    created_at timestamptz NOT NULL DEFAULT now()
);
