-- Changes the server refused one by one, moved out of the outbox so the changes behind them
-- flow. Kept with the server's reason until the worker sends them again (a new outbox entry
-- with a fresh sequence) or discards them.
CREATE TABLE set_aside (
    seq INTEGER PRIMARY KEY,
    record_type TEXT NOT NULL,
    row_id TEXT NOT NULL,
    village_code TEXT NOT NULL,
    hlc INTEGER NOT NULL,
    op TEXT NOT NULL,
    fields TEXT NOT NULL,
    base TEXT NOT NULL,
    created_at TEXT NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    details TEXT,
    refused_at TEXT NOT NULL
);
