-- A query step records why discovery picked its agent (platform.StepChoice,
-- JSON); NULL for the other steps.
ALTER TABLE run_steps ADD COLUMN choice TEXT;
