-- 已发放补贴: one-time subsidies already paid, so nobody is paid the same one twice.
CREATE TABLE subsidy_grants (
    id TEXT PRIMARY KEY,
    village_code TEXT NOT NULL,
    person_id TEXT,
    kind TEXT,
    amount NUMERIC,
    granted_on TEXT,
    note TEXT,
    _versions TEXT NOT NULL DEFAULT '{}',
    _deleted INTEGER NOT NULL DEFAULT 0,
    _disputed TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX subsidy_grants_person ON subsidy_grants (person_id, kind);
