-- Changes the server refused one by one. A pushed change that breaks a rule of its own (bad
-- values, a village outside the device's scope, a row or a reference of another village, ...)
-- is refused alone: its sequence is consumed (it stays in `pushed`, so a retried batch is
-- answered the same), nothing of it is applied, and it is kept here for the supervisors'
-- sync-health page until someone marks it resolved.
CREATE TABLE refused_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL,
    user_name TEXT,
    -- The device's villages when it pushed (JSON list): a supervisor of those villages sees
    -- the refusal even when the change named a village outside them.
    device_villages TEXT NOT NULL DEFAULT '[]',
    seq INTEGER NOT NULL,
    record_type TEXT NOT NULL,
    row_id TEXT NOT NULL,
    village_code TEXT NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    details TEXT,
    created_at TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open',
    resolved_at TEXT,
    resolved_by TEXT,
    comment TEXT,
    UNIQUE (device_id, seq)
);
CREATE INDEX refused_changes_status ON refused_changes (status, created_at);
