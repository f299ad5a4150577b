-- Agents gain the protocol the gateway calls them with and the health that
-- probes and calls last found: a status, why it is unhealthy, and when it
-- was checked (Unix microseconds, NULL before the first check).
--
-- Runs are executions of workflows. A run keeps its workflow's definition
-- as it was at creation, so editing or deleting the workflow leaves it
-- alone; workflow_id is '' for an inline workflow. IDs are UUIDv7 text, so
-- "id DESC" lists newest first. lease_owner and lease_until say which
-- executor owns a running run and until when (Unix microseconds); a run
-- whose lease expired is an orphan for RequeueOrphans to find.
ALTER TABLE agents ADD COLUMN protocol TEXT NOT NULL DEFAULT 'http';
ALTER TABLE agents ADD COLUMN health_status TEXT NOT NULL DEFAULT 'unknown';
ALTER TABLE agents ADD COLUMN health_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE agents ADD COLUMN health_checked_at INTEGER;

CREATE TABLE runs (
    id               TEXT PRIMARY KEY,
    namespace        TEXT NOT NULL,
    workflow         TEXT NOT NULL,
    workflow_id      TEXT NOT NULL DEFAULT '',
    status           TEXT NOT NULL,
    parameters       TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(parameters)),
    agents           TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(agents)),
    output           TEXT CHECK (output IS NULL OR json_valid(output)),
    error            TEXT NOT NULL DEFAULT '',
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    definition       TEXT NOT NULL CHECK (json_valid(definition)),
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER,
    lease_owner      TEXT,
    lease_until      INTEGER
) STRICT;

-- Listing: a namespace's runs newest first, all of them or by status or
-- by workflow name.
CREATE INDEX runs_namespace_id ON runs (namespace, id DESC);
CREATE INDEX runs_namespace_status_id ON runs (namespace, status, id DESC);
CREATE INDEX runs_namespace_workflow_id ON runs (namespace, workflow, id DESC);

-- The orphan scan: unfinished runs whose lease expired.
CREATE INDEX runs_status_lease_until ON runs (status, lease_until);

-- The state of each step of a run that has started. seq is the step's
-- position in start order, fixed by its first save: a later save of the
-- same step replaces its state but keeps its place.
CREATE TABLE run_steps (
    run_id      TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_id     TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    status      TEXT NOT NULL,
    agent       TEXT NOT NULL DEFAULT '',
    attempts    INTEGER NOT NULL DEFAULT 0,
    output      TEXT CHECK (output IS NULL OR json_valid(output)),
    error       TEXT NOT NULL DEFAULT '',
    started_at  INTEGER,
    finished_at INTEGER,
    PRIMARY KEY (run_id, step_id)
) STRICT;

CREATE INDEX run_steps_run_id_seq ON run_steps (run_id, seq);
