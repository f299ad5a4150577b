-- Workflow revisions: every stored state of a workflow, numbered from 1
-- per workflow. workflows keeps the newest (its revision column says
-- which) for reads and lists; workflow_revisions keeps them all, the
-- newest included, and goes with its workflow when it is deleted. The
-- workflows stored before revisions existed become their revision 1.
--
-- A run records the revision of the stored workflow it runs and that
-- revision's metadata.version (NULL and '' for an inline workflow); runs
-- of the workflows stored before ran revision 1.
--
-- Safe to run twice, as every migration must be.
ALTER TABLE workflows ADD COLUMN IF NOT EXISTS revision int NOT NULL DEFAULT 1;

CREATE TABLE IF NOT EXISTS workflow_revisions (
    workflow_id     uuid NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    revision        int NOT NULL,
    version         text NOT NULL DEFAULT '',
    description     text NOT NULL DEFAULT '',
    api_version     text NOT NULL DEFAULT '',
    definition      jsonb NOT NULL,
    manifest_format text,
    manifest_body   bytea,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (workflow_id, revision)
);

INSERT INTO workflow_revisions (workflow_id, revision, version, description, api_version, definition,
    manifest_format, manifest_body, created_at)
SELECT id, revision, version, description, api_version, definition, manifest_format, manifest_body, updated_at
FROM workflows
ON CONFLICT DO NOTHING;

ALTER TABLE runs ADD COLUMN IF NOT EXISTS workflow_revision int;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS workflow_version text NOT NULL DEFAULT '';
UPDATE runs SET workflow_revision = 1, workflow_version = coalesce(definition->'metadata'->>'version', '')
WHERE workflow_id IS NOT NULL AND workflow_revision IS NULL;

-- Run retention: the periodic pruning deletes the runs that finished
-- before a cutoff, oldest first, a batch at a time; this index finds them
-- without reading the runs that are not finished (finished_at NULL).
CREATE INDEX IF NOT EXISTS runs_finished_at ON runs (finished_at, id) WHERE finished_at IS NOT NULL;
