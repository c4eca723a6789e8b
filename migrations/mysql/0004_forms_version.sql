-- One row: a number every change to `forms` raises in the changing transaction
-- (shared/src/store/forms.rs). `GET /form` reads it with the caller's token and keeps each
-- list it wrote under it; the next list of the same number is the same list, and is not read
-- again. Changes made by hand in SQL are not counted: raise it with them
-- (`UPDATE forms_version SET version = version + 1`), or they show once a kept list is 1 s
-- old. (Numbered 0004 here and 0003 in sqlite/: sqlx tracks each directory on its own.)
CREATE TABLE forms_version (
    id      BIGINT NOT NULL PRIMARY KEY,
    version BIGINT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

INSERT INTO forms_version (id, version) VALUES (1, 0);
