-- What each device reported at its last contact: changes still waiting in its outbox, and the
-- cursor it has pulled to (for the sync health page).
ALTER TABLE devices ADD COLUMN pending INTEGER;
ALTER TABLE devices ADD COLUMN pull_cursor INTEGER;
