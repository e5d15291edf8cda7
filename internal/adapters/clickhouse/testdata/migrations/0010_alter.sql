-- Applied after 0002 (numeric order). 18.16 has no ADD COLUMN IF NOT EXISTS; the runner
-- records this file once it ran, so it never runs twice.
ALTER TABLE visits ADD COLUMN seen_at DateTime DEFAULT now();
