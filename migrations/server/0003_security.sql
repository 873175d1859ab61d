-- Security: device keys, enrolment codes, server keys, envelope replay protection, wipe.

ALTER TABLE devices ADD COLUMN sign_key TEXT;
ALTER TABLE devices ADD COLUMN box_key TEXT;
ALTER TABLE devices ADD COLUMN sign_key_id TEXT;
ALTER TABLE devices ADD COLUMN wipe_requested_at TEXT;
ALTER TABLE devices ADD COLUMN wiped_at TEXT;

-- One-time codes an admin issues so a device can enrol: bound to a user and villages.
CREATE TABLE enrolment_codes (
    code_hash TEXT PRIMARY KEY,
    hint TEXT NOT NULL,
    user_name TEXT NOT NULL,
    villages TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    device_id TEXT,
    withdrawn_at TEXT
);

-- The server's own key pairs. Private halves are encrypted with the configured data key.
-- Several may be accepted at once during a rotation; one is active for sending.
CREATE TABLE server_keys (
    key_id TEXT PRIMARY KEY,
    sign_public TEXT NOT NULL,
    box_public TEXT NOT NULL,
    box_key_id TEXT NOT NULL,
    private_sealed TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    retired_at TEXT
);

-- Every envelope a device sent, so a replayed one is refused.
CREATE TABLE envelopes_seen (
    device_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    purpose TEXT NOT NULL,
    seen_at TEXT NOT NULL,
    PRIMARY KEY (device_id, nonce)
) WITHOUT ROWID;
