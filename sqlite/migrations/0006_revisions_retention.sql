-- Run retention: the periodic pruning deletes the runs that finished
-- before a cutoff, oldest first, a batch at a time; this index finds them
-- without reading the runs that are not finished (finished_at NULL).
CREATE INDEX runs_finished_at ON runs (finished_at, id) WHERE finished_at IS NOT NULL;
