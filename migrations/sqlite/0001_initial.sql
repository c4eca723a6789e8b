-- BriefThreat schema, SQLite flavour. Kept portable with migrations/mysql/0001_initial.sql:
-- integer ids, integer epoch seconds, integer cents, integer flags; case-insensitive
-- uniqueness through *_key columns holding the lower-cased value (the same on both engines).

CREATE TABLE users (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    username              TEXT    NOT NULL,
    username_key          TEXT    NOT NULL,
    email                 TEXT    NOT NULL,
    email_key             TEXT    NOT NULL,
    first_name            TEXT    NOT NULL,
    last_name             TEXT,
    password_hash         TEXT,
    is_admin              INTEGER NOT NULL DEFAULT 0,
    registration_time     INTEGER NOT NULL,
    -- moved on by every password change and every new link: older links die
    password_link_counter INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX users_username_key ON users (username_key);
CREATE UNIQUE INDEX users_email_key ON users (email_key);

CREATE TABLE revoked_tokens (
    jti        TEXT    PRIMARY KEY NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX revoked_tokens_expires_at ON revoked_tokens (expires_at);

CREATE TABLE forms (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    submitter_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    form_time      INTEGER NOT NULL,
    customer_name  TEXT    NOT NULL,
    course         TEXT    NOT NULL,
    payment_method TEXT    NOT NULL,
    amount_cents   INTEGER NOT NULL,
    receipt        TEXT    NOT NULL,
    resolved_at    INTEGER
);
CREATE INDEX forms_submitter_id ON forms (submitter_id);

-- status: 0 pending, 1 delivered, 2 dead letter (given up), 3 dismissed dead letter
CREATE TABLE email_outbox (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    to_address       TEXT    NOT NULL,
    to_name          TEXT    NOT NULL,
    subject          TEXT    NOT NULL,
    text_body        TEXT    NOT NULL,
    html_body        TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    status           INTEGER NOT NULL DEFAULT 0,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    claimed_by       TEXT,
    claim_expires_at INTEGER,
    last_error       TEXT,
    delivered_at     INTEGER
);
CREATE INDEX email_outbox_due ON email_outbox (status, next_attempt_at);
