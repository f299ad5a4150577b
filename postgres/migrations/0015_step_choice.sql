-- A query step records why discovery picked its agent (platform.StepChoice);
-- NULL for the other steps.
ALTER TABLE run_steps ADD COLUMN IF NOT EXISTS choice jsonb;
