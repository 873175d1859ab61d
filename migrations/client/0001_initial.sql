-- The device store: one table per record type, the outbox and local settings.
-- Every record table has per-field versions (_versions: {field: [hlc, device]}), a tombstone
-- flag (_deleted) and the fields under supervisor review (_disputed: JSON list).

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
-- Local writes not yet acknowledged by the server, in the order they were made.
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    record_type TEXT NOT NULL,
    row_id TEXT NOT NULL,
    village_code TEXT NOT NULL,
    hlc INTEGER NOT NULL,
    op TEXT NOT NULL,
    fields TEXT NOT NULL,
    base TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX outbox_row ON outbox (record_type, row_id);

-- Device settings: device id, clock, pull cursor, server address.
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
