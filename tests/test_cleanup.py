"""The scheduled `cleanup` function (contract section 2; issue 6): deletes revoked-token
records whose tokens have expired and delivered e-mails past OUTBOX_RETENTION (default 30
days), keeps everything else, is idempotent, and logs what it removed."""

from __future__ import annotations

import time
import uuid

DAY = 86_400


def add_revoked(api, expires_at: int) -> str:
    jti = uuid.uuid4().hex
    api.sql("INSERT INTO revoked_tokens (jti, expires_at) VALUES (?, ?)", (jti, expires_at))
    return jti


def add_email(api, status: int, delivered_at: int | None, created_at: int) -> int:
    marker = f"cleanup-{uuid.uuid4().hex}"
    api.sql(
        "INSERT INTO email_outbox (to_address, to_name, subject, text_body, html_body, created_at,"
        " status, attempts, next_attempt_at, delivered_at)"
        " VALUES (?, 'Old Timer', ?, 'text', '<p>html</p>', ?, ?, 1, ?, ?)",
        ("old@example.test", marker, created_at, status, created_at + 10 * 365 * DAY, delivered_at),
    )
    return api.sql("SELECT id FROM email_outbox WHERE subject = ?", (marker,))[0]["id"]


def test_cleanup_removes_only_what_has_expired_and_is_idempotent(api):
    api.invoke("cleanup")  # start from a clean slate: earlier tests may have left expired rows
    now = int(time.time())
    expired = [add_revoked(api, now - 10), add_revoked(api, now - 40 * DAY)]
    live = add_revoked(api, now + 600)  # its token still works: the record must stay
    old_delivered = [add_email(api, 1, now - 31 * DAY, now - 32 * DAY) for _ in range(2)]
    recent_delivered = add_email(api, 1, now - 29 * DAY, now - 29 * DAY)
    old_pending = add_email(api, 0, None, now - 60 * DAY)  # never delivered: must stay
    old_dead = add_email(api, 2, None, now - 60 * DAY)  # dead letter: waits for a person
    try:
        assert api.invoke("cleanup") == {"revoked_tokens": 2, "delivered_emails": 2}
        assert api.invoke("cleanup") == {"revoked_tokens": 0, "delivered_emails": 0}
        ids = {row["id"] for row in api.sql("SELECT id FROM email_outbox")}
    finally:
        # a dead letter would fail /health, a pending one linger, in the tests that follow
        api.sql("DELETE FROM email_outbox WHERE id IN (?, ?)", (old_dead, old_pending))

    jtis = {row["jti"] for row in api.sql("SELECT jti FROM revoked_tokens")}
    assert live in jtis and not set(expired) & jtis
    assert {recent_delivered, old_pending, old_dead} <= ids
    assert not set(old_delivered) & ids
    log = api.log_path.read_text(errors="replace")
    assert "cleanup done" in log and "revoked_tokens: 2" in log and "delivered_emails: 2" in log
