-- The supervisors' console counts wrong passwords in a row per user name and locks the name
-- for a while after too many (server/console/lockout.py). Old streaks are pruned.
CREATE TABLE login_failures (
    name TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    last_failed_at TEXT NOT NULL,
    locked_until TEXT
);
CREATE INDEX login_failures_last ON login_failures (last_failed_at);
