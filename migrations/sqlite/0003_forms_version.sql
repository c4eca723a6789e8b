-- The forms' version: the sum of these 64 numbers. Every change to a form adds 1 to one of
-- them, chosen by the form's id, in the transaction that makes the change
-- (shared/src/store/forms.rs), so the sum rises with every change that commits. `GET /form`
-- reads the sum with the caller's token and keeps each list it wrote under it; the next list
-- under the same sum is the same list, and is not read again. 64 rows, not one: each change
-- holds its row's lock until it commits, and on one row every form written at once would
-- wait for the others' commits. Changes made by hand in SQL are not counted: raise one with
-- them (`UPDATE forms_version SET version = version + 1 WHERE id = 0`), or they show once a
-- kept list is 1 s old.
CREATE TABLE forms_version (
    id      INTEGER PRIMARY KEY NOT NULL CHECK (id BETWEEN 0 AND 63),
    version INTEGER NOT NULL
);

INSERT INTO forms_version (id, version) VALUES
(0, 0), (1, 0), (2, 0), (3, 0), (4, 0), (5, 0), (6, 0), (7, 0),
(8, 0), (9, 0), (10, 0), (11, 0), (12, 0), (13, 0), (14, 0), (15, 0),
(16, 0), (17, 0), (18, 0), (19, 0), (20, 0), (21, 0), (22, 0), (23, 0),
(24, 0), (25, 0), (26, 0), (27, 0), (28, 0), (29, 0), (30, 0), (31, 0),
(32, 0), (33, 0), (34, 0), (35, 0), (36, 0), (37, 0), (38, 0), (39, 0),
(40, 0), (41, 0), (42, 0), (43, 0), (44, 0), (45, 0), (46, 0), (47, 0),
(48, 0), (49, 0), (50, 0), (51, 0), (52, 0), (53, 0), (54, 0), (55, 0),
(56, 0), (57, 0), (58, 0), (59, 0), (60, 0), (61, 0), (62, 0), (63, 0);
