-- The audit log becomes a hash chain: each entry carries the hash of the one before it, so an
-- altered, inserted or removed entry is detected by `cunsync-server audit verify`.
-- Entries written before this migration are chained when the next entry is appended.
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_log ADD COLUMN hash TEXT;
