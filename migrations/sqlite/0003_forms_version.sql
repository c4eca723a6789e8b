-- One row: a number every change to `forms` raises in the changing transaction
-- (shared/src/store/forms.rs). `GET /form` reads it with the caller's token and keeps each
-- list it wrote under it; the next list of the same number is the same list, and is not read
-- again. Changes made by hand in SQL are not counted: raise it with them
-- (`UPDATE forms_version SET version = version + 1`), or they show once a kept list is 1 s
-- old.
CREATE TABLE forms_version (
    id      INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    version INTEGER NOT NULL
);

INSERT INTO forms_version (id, version) VALUES (1, 0);
