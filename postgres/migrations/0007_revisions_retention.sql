-- Run retention: the periodic pruning deletes the runs that finished
-- before a cutoff, oldest first, a batch at a time; this index finds them
-- without reading the runs that are not finished (finished_at NULL).
--
-- Safe to run twice, as every migration must be.
CREATE INDEX IF NOT EXISTS runs_finished_at ON runs (finished_at, id) WHERE finished_at IS NOT NULL;
