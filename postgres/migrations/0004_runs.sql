-- Agents gain the protocol the gateway calls them with and the health that
-- probes and calls last found: a status, why it is unhealthy, and when it
-- was checked (NULL before the first check).
--
-- Runs are executions of workflows. A run keeps its workflow's definition
-- as it was at creation, so editing or deleting the workflow leaves it
-- alone: workflow_id has no foreign key, and is NULL for an inline
-- workflow. IDs are UUIDv7, so "id DESC" lists newest first. lease_owner
-- and lease_until say which executor owns a running run and until when; a
-- run whose lease expired is an orphan for RequeueOrphans to find.
--
-- Safe to run twice (IF NOT EXISTS), as every migration must be.
ALTER TABLE agents ADD COLUMN IF NOT EXISTS protocol text NOT NULL DEFAULT 'http';
ALTER TABLE agents ADD COLUMN IF NOT EXISTS health_status text NOT NULL DEFAULT 'unknown';
ALTER TABLE agents ADD COLUMN IF NOT EXISTS health_reason text NOT NULL DEFAULT '';
ALTER TABLE agents ADD COLUMN IF NOT EXISTS health_checked_at timestamptz;

CREATE TABLE IF NOT EXISTS runs (
    id               uuid PRIMARY KEY,
    namespace        text NOT NULL,
    workflow         text NOT NULL,
    workflow_id      uuid,
    status           text NOT NULL,
    parameters       jsonb NOT NULL DEFAULT '{}',
    agents           jsonb NOT NULL DEFAULT '[]',
    output           jsonb,
    error            text NOT NULL DEFAULT '',
    cancel_requested boolean NOT NULL DEFAULT false,
    definition       jsonb NOT NULL,
    created_at       timestamptz NOT NULL,
    started_at       timestamptz,
    finished_at      timestamptz,
    lease_owner      text,
    lease_until      timestamptz
);

-- Listing: a namespace's runs newest first, all of them or by status or
-- by workflow name.
CREATE INDEX IF NOT EXISTS runs_namespace_id ON runs (namespace, id DESC);
CREATE INDEX IF NOT EXISTS runs_namespace_status_id ON runs (namespace, status, id DESC);
CREATE INDEX IF NOT EXISTS runs_namespace_workflow_id ON runs (namespace, workflow, id DESC);

-- The orphan scan: unfinished runs whose lease expired.
CREATE INDEX IF NOT EXISTS runs_status_lease_until ON runs (status, lease_until);

-- The state of each step of a run that has started. seq is the step's
-- position in start order, fixed by its first save: a later save of the
-- same step replaces its state but keeps its place.
CREATE TABLE IF NOT EXISTS run_steps (
    run_id      uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_id     text NOT NULL,
    seq         int NOT NULL,
    status      text NOT NULL,
    agent       text NOT NULL DEFAULT '',
    attempts    int NOT NULL DEFAULT 0,
    output      jsonb,
    error       text NOT NULL DEFAULT '',
    started_at  timestamptz,
    finished_at timestamptz,
    PRIMARY KEY (run_id, step_id)
);

CREATE INDEX IF NOT EXISTS run_steps_run_id_seq ON run_steps (run_id, seq);
