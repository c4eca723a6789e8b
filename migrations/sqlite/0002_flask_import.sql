-- Written by `migrate --import-flask` (shared/src/flask_import.rs) before it copies anything:
-- this deployment's data came from the Flask service, so the Flask service's password hashes
-- (passlib pbkdf2_sha256, upgraded at the next login) and e-mailed links (itsdangerous) are
-- accepted. Absent on every other deployment, where no old format is accepted. One row.
CREATE TABLE flask_import (
    id          INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    source      TEXT    NOT NULL,  -- the old database's URL, without its password
    started_at  INTEGER NOT NULL,
    finished_at INTEGER            -- set by the first run whose verification passed
);
