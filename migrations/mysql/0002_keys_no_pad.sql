-- Trailing spaces count on MariaDB as they do on SQLite: `utf8mb4_bin` is a PAD SPACE
-- collation, under which 'root ' = 'root', so "root " logged in as root and "dude " could
-- not be registered beside "dude". The NO PAD binary collation compares every character.
ALTER TABLE users
    MODIFY username_key VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
    MODIFY email_key    VARCHAR(254) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL;
