-- Written by `migrate --import-flask` (shared/src/flask_import.rs) before it copies anything:
-- this deployment's data came from the Flask service, so the Flask service's password hashes
-- (passlib pbkdf2_sha256, upgraded at the next login) and e-mailed links (itsdangerous) are
-- accepted. Absent on every other deployment, where no old format is accepted. One row.
-- (Numbered 0003 here and 0002 in sqlite/: sqlx tracks each directory on its own.)
CREATE TABLE flask_import (
    id          BIGINT       NOT NULL PRIMARY KEY,
    source      VARCHAR(512) NOT NULL,
    started_at  BIGINT       NOT NULL,
    finished_at BIGINT
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
