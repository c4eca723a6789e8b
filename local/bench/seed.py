"""The bench database's content: the submitter and the forms the list rows read, the
e-mails section f drains (all written by SQL, no API call). Forms written by SQL raise the
forms' version as the API's writes do, so no list kept by `form` answers for the old ones."""

from __future__ import annotations

import time

from .config import EMAILS
from .stores import sql, sql_many

FORM_INSERT = (
    "INSERT INTO forms (submitter_id, form_time, customer_name, course, payment_method, "
    "amount_cents, receipt, resolved_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)
# What every change to `forms` does in its transaction (shared/src/store/forms.rs).
FORMS_CHANGED = "UPDATE forms_version SET version = version + 1 WHERE id = 0"
OUTBOX_INSERT = (
    "INSERT INTO email_outbox (to_address, to_name, subject, text_body, html_body, created_at, "
    "status, attempts, next_attempt_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def add_forms(db_url: str, submitter_id: int, start: int, count: int) -> None:
    now = int(time.time())
    rows = [
        (
            submitter_id,
            now - 86_400 * (i % 365),
            f"Customer {i:05d} Bench-Ridley",
            f"Course {i % 37}: Introduction to benchmarking, evening group {i % 5}",
            "cash" if i % 3 else "cheque",
            1_000 + (i * 7919) % 500_000,
            f"R-{i:08d}",
            None if i % 2 else now - 3_600,
        )
        for i in range(start, start + count)
    ]
    sql_many(db_url, FORM_INSERT, rows)
    sql(db_url, FORMS_CHANGED)


def add_bench_user(db_url: str) -> int:
    """A non-admin submitter for the listed forms (root's own profile stays small)."""
    sql(db_url,
        "INSERT INTO users (username, username_key, email, email_key, first_name, last_name, "
        "password_hash, is_admin, registration_time, password_link_counter) "
        "VALUES ('bench', 'bench', 'bench@example.test', 'bench@example.test', 'Bench', NULL, NULL, 0, %s, 0)",
        (int(time.time()),))
    return sql(db_url, "SELECT id FROM users WHERE username_key = 'bench'")[0][0]


def queue_emails(db_url: str, marker: str) -> None:
    """EMAILS messages due now, each subject starting with `marker`."""
    now = int(time.time())
    text = "Hello,\n\nThis is a benchmark message. " * 12
    html = "<html><body><p>Hello,</p>" + "<p>This is a benchmark message.</p>" * 12 + "</body></html>"
    rows = [
        (f"bench{i:05d}@example.test", f"Bench Recipient {i}", f"{marker} message {i}", text, html, now, 0, 0, now)
        for i in range(EMAILS)
    ]
    sql_many(db_url, OUTBOX_INSERT, rows, chunk=1000)
