-- Step positions come from one sequence instead of max(seq) + 1 within the
-- run, so that a step checkpoint is one statement that reads no other step
-- (docs/benchmarks.md: a round trip per checkpoint instead of four). A later
-- save of a step keeps the position of its first (the upsert does not set
-- seq), and within a run the sequence's order is start order. Rows written
-- before keep their positions; the sequence starts above them.
--
-- Safe to run twice, as every migration must be.
CREATE SEQUENCE IF NOT EXISTS run_steps_seq AS bigint;
ALTER TABLE run_steps ALTER COLUMN seq TYPE bigint;
ALTER TABLE run_steps ALTER COLUMN seq SET DEFAULT nextval('run_steps_seq');
SELECT setval('run_steps_seq', greatest((SELECT max(seq) FROM run_steps), (SELECT last_value FROM run_steps_seq), 1));
