"""E-mail delivery end to end: API call → outbox → `email` function → a real SMTP
conversation with the sink (tests/smtp_sink.py), on both databases.

The server under test delivers over SMTP (SMTP_SECURITY=none to the loopback sink). As in
AWS, a commit that queues mail invokes `email` at once (the emulator's Invoke API,
EMAIL_INVOKE_URL), and a schedule (every second in the tests) retries what failed.
"""

from __future__ import annotations

import concurrent.futures
import re
import time
from collections import Counter
from email.utils import getaddresses, parseaddr

from authhelpers import (
    LOGIN,
    REGISTRATION_SUBJECT,
    RESET_SUBJECT,
    auth,
    expect_204,
    make_user,
    register,
    register_body,
    root_token,
    uniq,
)
from conftest import first_link

FORM = "/api/v1/form"


def parts(message):
    """(plain text, html) of a multipart/alternative message."""
    assert message.get_content_type() == "multipart/alternative", message.get_content_type()
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    return plain.get_content(), html.get_content()


def check_envelope(received, to_address, to_name, subject):
    message = received.message
    assert received.rcpt_tos == [to_address]
    assert message["Subject"] == subject
    assert parseaddr(str(message["From"])) == ("BriefThreat", "noreply@example.test")
    assert getaddresses([str(message["To"])]) == [(to_name, to_address)]
    assert message["Date"], "no Date header"
    assert re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", str(message["Message-ID"]).strip())
    return parts(message)


def from_this_server(api, received):
    """Root's mailbox is shared by both backends' servers; their links tell them apart."""
    _, html = parts(received.message)
    return f"http://{api.env['PUBLIC_HOST']}/" in html


def submit_form(api, token, **overrides):
    body = {
        "time": 1711302900,
        "customer_name": "Zoë Ünïcode",
        "course": "Maths",
        "payment_method": "cash",
        "amount": "123.99",
        "receipt": "R-1",
        **overrides,
    }
    resp = api.post(FORM, json=body, headers=auth(token))
    assert resp.status_code == 200, resp.text
    return resp.json()["id"]


def test_registration_email_over_smtp_with_encoded_names(api):
    body = register_body(first_name="Zoë", last_name="Ünïcode-Łukasz")
    expect_204(register(api, body))
    (received,) = api.smtp.wait_for(body["email"])
    plain, html = check_envelope(received, body["email"], "Zoë Ünïcode-Łukasz", REGISTRATION_SUBJECT)
    # a non-ASCII display name must be encoded on the wire (RFC 2047)
    raw_to = re.search(rb"^To: (.*)$", received.raw, re.MULTILINE).group(1)
    assert b"=?utf-8?" in raw_to.lower(), raw_to
    link = first_link(html)
    assert link.startswith(f"http://{api.env['PUBLIC_HOST']}/reset-password?token=")
    assert link in plain
    assert "Set my password" in html and body["username"] in plain


def test_the_five_contract_emails_arrive(api):
    admin_token = root_token(api)
    submitter = make_user(api, first_name="Anaïs", last_name="Dupré")
    token = api.post(LOGIN, json={"username": submitter.username, "password": submitter.password}).json()[
        "access_token"
    ]
    # 1. registration (consumed by make_user) reached the user
    assert any(m.message["Subject"] == REGISTRATION_SUBJECT for m in api.smtp.wait_for(submitter.email))

    # 2. password reset
    expect_204(api.patch(LOGIN, json={"username": submitter.username}))
    reset = api.smtp.wait_for(submitter.email, subject=RESET_SUBJECT)
    plain, html = check_envelope(reset[0], submitter.email, "Anaïs Dupré", RESET_SUBJECT)
    assert "Reset my password" in html and first_link(html) in plain

    # 3. new form: to every admin, each with a resolve link
    form_id = submit_form(api, token)
    subject = f"Form no. {form_id}"
    admins = [row["email"] for row in api.sql("SELECT email FROM users WHERE is_admin = 1")]
    mine = lambda m: from_this_server(api, m)  # noqa: E731
    for address in admins:
        api.smtp.wait_for(address, subject=subject, where=mine)
    root_mail = api.smtp.wait_for("root@example.test", subject=subject, where=mine)[0]
    plain, html = parts(root_mail.message)
    assert "€123.99" in plain and "Cash" in plain and "Zoë Ünïcode" in plain
    assert first_link(html).startswith(f"http://{api.env['PUBLIC_HOST']}/resolve?token=")

    # 4. edited form, a real change: "new (was old)"
    resp = api.patch(FORM, json={"id": form_id, "amount": 200}, headers=auth(token))
    assert resp.status_code == 200, resp.text
    edits = api.smtp.wait_for("root@example.test", 2, subject=subject, where=mine)
    plain, _ = parts(edits[1].message)
    assert "€200.00 (was €123.99)" in plain

    # 5. resolved: to the submitter, no link
    resp = api.put(FORM + "/resolve", json={"id": form_id}, headers=auth(admin_token))
    assert resp.status_code == 200, resp.text
    resolved = api.smtp.wait_for(submitter.email, subject=subject)
    time.sleep(0.5)
    assert len(api.smtp.to(submitter.email)) == 3  # registration, reset, resolved
    plain, html = check_envelope(resolved[0], submitter.email, "Anaïs Dupré", subject)
    assert "resolved" in plain.lower() and "€200.00" in plain
    assert "/resolve?token=" not in html


def test_delivery_is_prompt(api):
    """Measured, not a timing assertion: the commit invokes `email` at once, so an e-mail
    usually reaches the SMTP server within milliseconds of the response that queued it; the
    bound here only catches a stall. Warm functions, median of five."""
    root_token(api)
    expect_204(register(api, register_body()))  # warm-up: every function involved is running
    latencies = []
    for _ in range(5):
        body = register_body()
        expect_204(register(api, body))
        answered = time.monotonic()
        (received,) = api.smtp.wait_for(body["email"], timeout=10)
        latencies.append(received.at - answered)
    latencies.sort()
    print(f"[{api.backend}] e-mail at the SMTP sink after the API response: median {latencies[2] * 1000:.0f} ms, "
          f"all {[round(x * 1000) for x in latencies]} ms")
    assert latencies[2] < 5


def test_smtp_outage_loses_nothing_and_sends_once(api):
    user = make_user(api)
    api.smtp.stop()
    try:
        for _ in range(3):
            expect_204(api.patch(LOGIN, json={"username": user.username}))
        # the schedule keeps trying: attempts are recorded, nothing is lost (a connection
        # the pool kept open to the stopped sink first has to time out)
        deadline = time.monotonic() + 60
        while True:
            # the user's registration e-mail (maybe not sent yet when the sink stopped) and
            # the three reset e-mails; while the server is down only the first due message
            # is tried on each run, the others are put back untried
            rows = api.sql(
                "SELECT status, attempts, last_error FROM email_outbox WHERE to_address = ? AND status = 0",
                (user.email,),
            )
            if len(rows) >= 3 and any(r["attempts"] >= 1 for r in rows):
                break
            assert time.monotonic() < deadline, rows
            time.sleep(0.1)
        assert all(r["status"] == 0 for r in rows), rows
        assert any(r["last_error"] for r in rows)
    finally:
        api.smtp.start()
    api.smtp.wait_for(user.email, 3, timeout=90, subject=RESET_SUBJECT)
    time.sleep(1.0)  # anything sent twice would show up by now
    received = [m for m in api.smtp.to(user.email) if m.message["Subject"] == RESET_SUBJECT]
    assert len(received) == 3, [m.message["Message-ID"] for m in received]
    assert len({str(m.message["Message-ID"]) for m in received}) == 3
    registration = [m for m in api.smtp.to(user.email) if m.message["Subject"] == REGISTRATION_SUBJECT]
    assert len(registration) == 1
    assert not api.sql("SELECT id FROM email_outbox WHERE to_address = ? AND status <> 1", (user.email,))


def test_permanently_rejected_recipient_becomes_a_visible_dead_letter(api):
    body = register_body(email=f"reject-{uniq()}@example.test")
    expect_204(register(api, body))
    deadline = time.monotonic() + 20
    while True:
        rows = api.sql("SELECT id, status, last_error FROM email_outbox WHERE to_address = ?", (body["email"],))
        if rows and rows[0]["status"] == 2:
            break
        assert time.monotonic() < deadline, rows
        time.sleep(0.1)
    dead_id = rows[0]["id"]
    assert "550" in rows[0]["last_error"]
    try:
        health = api.get("/health")
        assert health.status_code == 500
        tasks = health.json()["results"][1]
        assert tasks["checker"] == "tasks_ok" and tasks["passed"] is False
        assert dead_id in tasks["output"]["failed"]
        assert api.smtp.to(body["email"]) == []
    finally:
        report = api.invoke("email", {"dismiss_dead": [dead_id]})
    assert report["dismissed_dead"] == 1
    health = api.get("/health")
    assert health.status_code == 200, health.text
    assert dead_id not in health.json()["results"][1]["output"]["failed"]


def test_concurrent_email_instances_send_each_message_once(api):
    """Several `email` invocations at once (the schedule's and the test's)
    drain one outbox: every message reaches the sink exactly once."""
    address = f"bulk-{uniq()}@example.test"
    now = int(time.time())
    values = [(address, "Bulk", f"bulk {i}", "text", "<p>html</p>", now, now) for i in range(60)]
    for row in values:
        api.sql(
            "INSERT INTO email_outbox (to_address, to_name, subject, text_body, html_body, created_at, "
            "status, attempts, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, 0, 0, ?)",
            row,
        )
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        reports = list(pool.map(lambda _: api.invoke("email"), range(4)))
    received = api.smtp.wait_for(address, 60, timeout=60)
    time.sleep(1.0)
    received = api.smtp.to(address)
    counts = Counter(m.message["Subject"] for m in received)
    assert len(received) == 60 and set(counts.values()) == {1}, counts.most_common(3)
    assert sum(r["delivered"] for r in reports) <= 60


def test_health_counts_delivered_messages(api):
    before = api.get("/health").json()["results"][1]["output"]["succeeded"]
    body = register_body()
    expect_204(register(api, body))
    api.smtp.wait_for(body["email"])
    deadline = time.monotonic() + 10
    while api.get("/health").json()["results"][1]["output"]["succeeded"] <= before:
        assert time.monotonic() < deadline
        time.sleep(0.1)
