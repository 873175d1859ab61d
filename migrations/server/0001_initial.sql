-- The county server: record tables (as on devices), the ordered change log devices pull,
-- devices, pushed sequences (for at-most-once apply), conflicts and the audit log.

-- 行政村
CREATE TABLE villages (
    id TEXT PRIMARY KEY,
    village_code TEXT NOT NULL,
    name TEXT,
    township TEXT,
    county TEXT,
    _versions TEXT NOT NULL DEFAULT '{}',
    _deleted INTEGER NOT NULL DEFAULT 0,
    _disputed TEXT NOT NULL DEFAULT '[]'
);

-- 农户
CREATE TABLE households (
    id TEXT PRIMARY KEY,
    village_code TEXT NOT NULL,
    household_no TEXT,
    head_name TEXT,
    address TEXT,
    categories TEXT,
    relocated INTEGER,
    lifted_year INTEGER,
    phone TEXT,
    bank_account TEXT,
    note TEXT,
    _versions TEXT NOT NULL DEFAULT '{}',
    _deleted INTEGER NOT NULL DEFAULT 0,
    _disputed TEXT NOT NULL DEFAULT '[]'
);

-- 家庭成员
CREATE TABLE persons (
    id TEXT PRIMARY KEY,
    village_code TEXT NOT NULL,
    household_id TEXT,
    name TEXT,
    id_number TEXT,
    sex TEXT,
    birth_date TEXT,
    relation TEXT,
    categories TEXT,
    labour_capacity TEXT,
    phone TEXT,
    note TEXT,
    _versions TEXT NOT NULL DEFAULT '{}',
    _deleted INTEGER NOT NULL DEFAULT 0,
    _disputed TEXT NOT NULL DEFAULT '[]'
);

-- 就业状态
CREATE TABLE employments (
    id TEXT PRIMARY KEY,
    village_code TEXT NOT NULL,
    person_id TEXT,
    status TEXT,
    status_since TEXT,
    not_working_reason TEXT,
    destination TEXT,
    province TEXT,
    work_kind TEXT,
    organised_export INTEGER,
    employer TEXT,
    start_date TEXT,
    long_contract INTEGER,
    insurance_months INTEGER,
    monthly_income NUMERIC,
    note TEXT,
    _versions TEXT NOT NULL DEFAULT '{}',
    _deleted INTEGER NOT NULL DEFAULT 0,
    _disputed TEXT NOT NULL DEFAULT '[]'
);

-- 公益性岗位
CREATE TABLE posts (
    id TEXT PRIMARY KEY,
    village_code TEXT NOT NULL,
    name TEXT,
    duty TEXT,
    monthly_pay NUMERIC,
    created_on TEXT,
    closed_on TEXT,
    note TEXT,
    _versions TEXT NOT NULL DEFAULT '{}',
    _deleted INTEGER NOT NULL DEFAULT 0,
    _disputed TEXT NOT NULL DEFAULT '[]'
);

-- 岗位聘任
CREATE TABLE appointments (
    id TEXT PRIMARY KEY,
    village_code TEXT NOT NULL,
    post_id TEXT,
    person_id TEXT,
    start_date TEXT,
    end_date TEXT,
    accident_insurance INTEGER,
    insurance_policy_no TEXT,
    status TEXT,
    ended_on TEXT,
    end_reason TEXT,
    _versions TEXT NOT NULL DEFAULT '{}',
    _deleted INTEGER NOT NULL DEFAULT 0,
    _disputed TEXT NOT NULL DEFAULT '[]'
);

-- 岗位考勤
CREATE TABLE attendance (
    id TEXT PRIMARY KEY,
    village_code TEXT NOT NULL,
    post_id TEXT,
    day TEXT,
    person_id TEXT,
    status TEXT,
    note TEXT,
    _versions TEXT NOT NULL DEFAULT '{}',
    _deleted INTEGER NOT NULL DEFAULT 0,
    _disputed TEXT NOT NULL DEFAULT '[]'
);

-- 培训班
CREATE TABLE training_sessions (
    id TEXT PRIMARY KEY,
    village_code TEXT NOT NULL,
    title TEXT,
    kind TEXT,
    trade TEXT,
    organiser TEXT,
    location TEXT,
    start_date TEXT,
    end_date TEXT,
    _versions TEXT NOT NULL DEFAULT '{}',
    _deleted INTEGER NOT NULL DEFAULT 0,
    _disputed TEXT NOT NULL DEFAULT '[]'
);

-- 培训签到
CREATE TABLE signins (
    id TEXT PRIMARY KEY,
    village_code TEXT NOT NULL,
    session_id TEXT,
    person_id TEXT,
    day TEXT,
    note TEXT,
    _versions TEXT NOT NULL DEFAULT '{}',
    _deleted INTEGER NOT NULL DEFAULT 0,
    _disputed TEXT NOT NULL DEFAULT '[]'
);

-- 走访记录
CREATE TABLE visits (
    id TEXT PRIMARY KEY,
    village_code TEXT NOT NULL,
    household_id TEXT,
    visit_date TEXT,
    visitors TEXT,
    findings TEXT,
    follow_up TEXT,
    follow_up_due TEXT,
    _versions TEXT NOT NULL DEFAULT '{}',
    _deleted INTEGER NOT NULL DEFAULT 0,
    _disputed TEXT NOT NULL DEFAULT '[]'
);
-- Every applied change, in server order: the cursor devices pull after. Also the history of
-- every value a row ever had.
CREATE TABLE change_log (
    cursor INTEGER PRIMARY KEY AUTOINCREMENT,
    record_type TEXT NOT NULL,
    row_id TEXT NOT NULL,
    village_code TEXT NOT NULL,
    fields TEXT NOT NULL,
    versions TEXT NOT NULL,
    deleted INTEGER,
    disputed TEXT NOT NULL DEFAULT '[]',
    device_id TEXT,
    seq INTEGER,
    user_name TEXT,
    at TEXT NOT NULL
);
CREATE INDEX change_log_village ON change_log (village_code, cursor);
CREATE INDEX change_log_row ON change_log (record_type, row_id, cursor);

CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    user_name TEXT NOT NULL,
    villages TEXT NOT NULL,
    token_hash TEXT UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    last_seen_at TEXT,
    last_seq INTEGER NOT NULL DEFAULT 0,
    acknowledged INTEGER NOT NULL DEFAULT 0,
    app_version TEXT,
    schema_version INTEGER,
    clock_skew_ms INTEGER
);

-- One row per applied (device, sequence): a repeat is acknowledged, altered content refused.
CREATE TABLE pushed (
    device_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    digest TEXT NOT NULL,
    cursor INTEGER,
    PRIMARY KEY (device_id, seq)
) WITHOUT ROWID;

CREATE TABLE conflicts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    record_type TEXT NOT NULL,
    row_id TEXT NOT NULL,
    village_code TEXT NOT NULL,
    field TEXT NOT NULL,
    policy TEXT NOT NULL,
    status TEXT NOT NULL,
    base_version TEXT,
    current_value TEXT,
    current_version TEXT,
    current_device TEXT,
    current_user_name TEXT,
    incoming_value TEXT,
    incoming_version TEXT NOT NULL,
    incoming_device TEXT NOT NULL,
    incoming_user_name TEXT,
    incoming_seq INTEGER,
    created_at TEXT NOT NULL,
    resolved_at TEXT,
    resolved_by TEXT,
    resolution TEXT,
    resolved_value TEXT,
    comment TEXT
);
CREATE INDEX conflicts_status ON conflicts (status, village_code, created_at);
CREATE INDEX conflicts_row ON conflicts (record_type, row_id, field);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    detail TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE server_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- People who use the server: workers (own devices), supervisors and admins. ``scope`` is a
-- JSON list of village codes or county-code prefixes; an empty list with role admin is all.
CREATE TABLE users (
    name TEXT PRIMARY KEY,
    display_name TEXT,
    role TEXT NOT NULL,
    scope TEXT NOT NULL DEFAULT '[]',
    password_hash TEXT,
    created_at TEXT NOT NULL,
    disabled_at TEXT
);
