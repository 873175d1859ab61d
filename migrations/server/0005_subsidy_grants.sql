-- 已发放补贴 (one-time subsidies already paid), and the indexes the policy reports
-- (docs/reports.md) read through: each report ranges over village codes, then joins by id.

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

-- Employment by area and status (scale, subsidies, early warning).
CREATE INDEX employments_village_status ON employments (village_code, status);
-- The history of employment rows only, by area and time: the state at an earlier date.
CREATE INDEX change_log_employment ON change_log (village_code, at)
    WHERE record_type = 'employment';
-- Posts and their holders by area; a month of attendance across a county.
CREATE INDEX appointments_village ON appointments (village_code, start_date);
CREATE INDEX attendance_day ON attendance (day, village_code);
CREATE INDEX training_sessions_village ON training_sessions (village_code, start_date);
