-- Whether an outbox entry (and a set-aside change) made its row, recorded when it is written.
-- Discarding a refused change that made its row removes the row; guessing this from the base
-- (no version named) also matched an update filling fields never set before, and discarding it
-- deleted a row the county has.
ALTER TABLE outbox ADD COLUMN creates_row INTEGER NOT NULL DEFAULT 0;
ALTER TABLE set_aside ADD COLUMN creates_row INTEGER NOT NULL DEFAULT 0;
-- Existing entries, conservatively: only a device's own creation names village_code in its base
-- (an update can never change it), with no version. Anything else counts as not a creation.
UPDATE outbox SET creates_row = 1
 WHERE op = 'upsert' AND json_valid(base) AND json_type(base, '$.village_code') = 'null';
UPDATE set_aside SET creates_row = 1
 WHERE op = 'upsert' AND json_valid(base) AND json_type(base, '$.village_code') = 'null';
