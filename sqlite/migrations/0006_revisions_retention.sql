-- Workflow revisions: every stored state of a workflow, numbered from 1
-- per workflow. workflows keeps the newest (its revision column says
-- which) for reads and lists; workflow_revisions keeps them all, the
-- newest included, and goes with its workflow when it is deleted. The
-- workflows stored before revisions existed become their revision 1.
--
-- A run records the revision of the stored workflow it runs and that
-- revision's metadata.version (NULL and '' for an inline workflow); runs
-- of the workflows stored before ran revision 1.
ALTER TABLE workflows ADD COLUMN revision INTEGER NOT NULL DEFAULT 1;

CREATE TABLE workflow_revisions (
    workflow_id     TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    revision        INTEGER NOT NULL,
    version         TEXT NOT NULL DEFAULT '',
    description     TEXT NOT NULL DEFAULT '',
    api_version     TEXT NOT NULL DEFAULT '',
    definition      TEXT NOT NULL CHECK (json_valid(definition)),
    manifest_format TEXT,
    manifest_body   BLOB,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (workflow_id, revision)
) STRICT;

INSERT INTO workflow_revisions (workflow_id, revision, version, description, api_version, definition,
    manifest_format, manifest_body, created_at)
SELECT id, revision, version, description, api_version, definition, manifest_format, manifest_body, updated_at
FROM workflows;

ALTER TABLE runs ADD COLUMN workflow_revision INTEGER;
ALTER TABLE runs ADD COLUMN workflow_version TEXT NOT NULL DEFAULT '';
UPDATE runs SET workflow_revision = 1,
    workflow_version = coalesce(CAST(json_extract(definition, '$.metadata.version') AS TEXT), '')
WHERE workflow_id <> '';

-- Run retention: the periodic pruning deletes the runs that finished
-- before a cutoff, oldest first, a batch at a time; this index finds them
-- without reading the runs that are not finished (finished_at NULL).
CREATE INDEX runs_finished_at ON runs (finished_at, id) WHERE finished_at IS NOT NULL;
