-- BriefThreat schema, MariaDB flavour. Kept portable with migrations/sqlite/0001_initial.sql:
-- every integer is BIGINT (sqlx's `any` driver decodes them all as i64), no DATETIME,
-- DECIMAL or BOOLEAN; case-insensitive uniqueness through *_key columns holding the
-- lower-cased value, compared in binary so both engines agree.

CREATE TABLE users (
    id                    BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    username              VARCHAR(128) NOT NULL,
    username_key          VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    email                 VARCHAR(254) NOT NULL,
    email_key             VARCHAR(254) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    first_name            VARCHAR(64)  NOT NULL,
    last_name             VARCHAR(64),
    password_hash         VARCHAR(255),
    is_admin              BIGINT       NOT NULL DEFAULT 0,
    registration_time     BIGINT       NOT NULL,
    password_link_counter BIGINT       NOT NULL DEFAULT 0,
    UNIQUE KEY users_username_key (username_key),
    UNIQUE KEY users_email_key (email_key)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE revoked_tokens (
    jti        VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    expires_at BIGINT      NOT NULL,
    KEY revoked_tokens_expires_at (expires_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE forms (
    id             BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    submitter_id   BIGINT       NOT NULL,
    form_time      BIGINT       NOT NULL,
    customer_name  VARCHAR(128) NOT NULL,
    course         VARCHAR(256) NOT NULL,
    payment_method VARCHAR(8)   NOT NULL,
    amount_cents   BIGINT       NOT NULL,
    receipt        VARCHAR(128) NOT NULL,
    resolved_at    BIGINT,
    KEY forms_submitter_id (submitter_id),
    CONSTRAINT forms_submitter_fk FOREIGN KEY (submitter_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- status: 0 pending, 1 delivered, 2 dead letter (given up), 3 dismissed dead letter
CREATE TABLE email_outbox (
    id               BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    to_address       VARCHAR(254) NOT NULL,
    to_name          VARCHAR(200) NOT NULL,
    subject          VARCHAR(255) NOT NULL,
    text_body        MEDIUMTEXT   NOT NULL,
    html_body        MEDIUMTEXT   NOT NULL,
    created_at       BIGINT       NOT NULL,
    status           BIGINT       NOT NULL DEFAULT 0,
    attempts         BIGINT       NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT       NOT NULL,
    claimed_by       VARCHAR(64),
    claim_expires_at BIGINT,
    last_error       TEXT,
    delivered_at     BIGINT,
    KEY email_outbox_due (status, next_attempt_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
