"""What probing from outside found (the urgent fixes issue), on both databases: control
characters in names and addresses, whole-object validation errors, numbers too large for a
float, an empty Authorization header, and trailing spaces in usernames.

The forms' `time`/`amount` cases live in test_forms.py with the other form rules; the
database and mail-server outages in test_outage.py; the Lambda APIs behind nginx in
test_e2e.py.
"""

from __future__ import annotations

import json
import time

import pytest

from authhelpers import (
    ACCESS,
    LOGIN,
    NOT_BOOLEAN,
    REGISTRATION_SUBJECT,
    auth,
    expect,
    expect_204,
    expect_fields,
    expect_message,
    login,
    make_user,
    register,
    register_body,
    root_password,
    root_token,
    uniq,
)

CONTROL = "Must not contain control characters."
FORM = "/api/v1/form"
DEAD = 2


# --------------------------------------------------------------------------- control characters


@pytest.mark.parametrize(
    "field, value",
    [
        ("first_name", "Eve\r\nBcc: x@evil.example"),
        ("first_name", "Eve\x00"),
        ("last_name", "Smith\nX-Injected: 1"),
        ("last_name", "Smith\x7f"),
        ("username", "eve\tmallory"),
        ("username", "eve\x85"),
        ("email", "eve\r\n@example.test"),
    ],
)
def test_register_refuses_control_characters(api, field, value):
    body = register_body()
    body[field] = value
    before = len(api.outbox())
    expect_fields(register(api, body), {field: [CONTROL]})
    if field != "username":
        assert api.sql("SELECT id FROM users WHERE username = ?", (body["username"],)) == []
    assert len(api.outbox()) == before


def test_register_reports_control_characters_with_the_other_field_errors(api):
    body = register_body(first_name="Eve\r\n", last_name="\x00")
    body["is_admin"] = "maybe"
    expect_fields(register(api, body), {"first_name": [CONTROL], "last_name": [CONTROL], "is_admin": [NOT_BOOLEAN]})


def wait_for_status(api, ids, status, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        rows = api.sql(
            f"SELECT id, status, attempts, last_error FROM email_outbox WHERE id IN ({', '.join('?' * len(ids))})",
            ids,
        )
        if len(rows) == len(ids) and all(r["status"] == status for r in rows):
            return rows
        assert time.monotonic() < deadline, rows
        time.sleep(0.1)


def queue_raw(api, to_address, to_name, subject="Raw message"):
    """An outbox row written straight into the database, as one written before the API
    refused control characters (or imported) would be."""
    now = int(time.time())
    api.sql(
        "INSERT INTO email_outbox (to_address, to_name, subject, text_body, html_body, created_at, "
        "status, attempts, next_attempt_at) VALUES (?, ?, ?, 'text', '<p>html</p>', ?, 0, 0, ?)",
        (to_address, to_name, subject, now, now),
    )
    return api.sql("SELECT MAX(id) AS id FROM email_outbox WHERE to_address = ?", (to_address,))[0]["id"]


def dismiss(api, ids):
    report = api.invoke("email", {"dismiss_dead": ids})
    assert report["dismissed_dead"] == len(ids), report


def test_stored_control_characters_are_dead_letters_at_once_and_block_nothing(api):
    tag = uniq("ctl")
    crlf = queue_raw(api, f"{tag}-crlf@example.test", "Eve\r\nBcc: stolen@evil.example")
    nul = queue_raw(api, f"{tag}-nul@example.test", "Eve\x00")
    subject = queue_raw(api, f"{tag}-subject@example.test", "Eve", subject="Hi\r\nBcc: stolen@evil.example")
    good = f"{tag}-good@example.test"
    queue_raw(api, good, "Good Person")
    try:
        api.smtp.wait_for(good)  # queued behind the bad ones, delivered all the same
        rows = wait_for_status(api, [crlf, nul, subject], DEAD)
        # given up on at the first attempt: never re-claimed, never sent
        assert [r["attempts"] for r in rows] == [1, 1, 1], rows
        assert all("control characters" in r["last_error"] for r in rows), rows
        assert not [m for m in api.smtp.messages() if any("evil.example" in r for r in m.rcpt_tos)]
        assert all(api.smtp.to(f"{tag}-{kind}@example.test") == [] for kind in ("crlf", "nul", "subject"))
        health = api.get("/health")
        assert health.status_code == 500, health.text
        tasks = health.json()["results"][1]
        assert tasks["passed"] is False and {crlf, nul, subject} <= set(tasks["output"]["failed"])
    finally:
        dismiss(api, [crlf, nul, subject])
    assert api.get("/health").status_code == 200


def test_an_admin_imported_with_a_crlf_name_costs_only_their_own_email(api):
    """A user row from before the rule: every admin is e-mailed about a new form; the one
    whose name would inject a header is a dead letter, the others get theirs."""
    bad_admin = make_user(api, admin=True, password=None)
    other_admin = make_user(api, admin=True, password=None)
    submitter = make_user(api)
    api.sql("UPDATE users SET first_name = ? WHERE username = ?", ("Eve\r\nBcc: stolen@evil.example", bad_admin.username))
    try:
        token = login(api, submitter.username, submitter.password).json()["access_token"]
        body = {"time": 1711302900, "customer_name": "C", "course": "K", "payment_method": "cash",
                "amount": "1.00", "receipt": "R"}
        form_id = expect(api.post(FORM, json=body, headers=auth(token)), 200).json()["id"]
        subject = f"Form no. {form_id}"
        api.smtp.wait_for(other_admin.email, subject=subject)
        rows = api.sql("SELECT id FROM email_outbox WHERE to_address = ? AND subject = ?", (bad_admin.email, subject))
        assert len(rows) == 1, rows
        wait_for_status(api, [rows[0]["id"]], DEAD)
        assert all(m.message["Subject"] == REGISTRATION_SUBJECT for m in api.smtp.to(bad_admin.email))
        dismiss(api, [rows[0]["id"]])
    finally:
        # no later test's form may e-mail this admin again
        api.sql("UPDATE users SET is_admin = 0 WHERE username = ?", (bad_admin.username,))
        dead = [r["id"] for r in api.sql("SELECT id FROM email_outbox WHERE status = 2")]
        if dead:
            dismiss(api, dead)


# --------------------------------------------------------------------------- whole-object errors


@pytest.mark.parametrize(
    "changes",
    [
        {"is_admin": "x"},
        {"is_admin": "x", "first_name": 5},
        {"username": None, "last_name": "y" * 65},
    ],
)
def test_an_invalid_email_hides_the_field_errors(api, changes):
    body = {**register_body(email="not-an-email"), **changes}
    resp = expect(register(api, body), 422)
    errors = resp.json()
    assert list(errors) == ["_schema"], errors
    assert errors["_schema"] == [expect(register(api, register_body(email="not-an-email")), 422).json()["_schema"][0]]


def test_a_field_error_on_email_itself_is_reported_as_one(api):
    expect_fields(register(api, register_body(email=5)), {"email": ["Not a valid string."]})
    body = {**register_body(email="x" * 120 + "@example.test"), "is_admin": "x"}
    expect_fields(register(api, body), {"email": ["Longer than maximum length 128."], "is_admin": [NOT_BOOLEAN]})


# --------------------------------------------------------------------------- 1e400


def test_a_number_too_large_for_a_float_is_a_field_error_not_a_400(api):
    text = json.dumps(register_body())[:-1] + ', "is_admin": 1e400}'
    resp = api.post("/api/v1/auth/register", data=text,
                    headers={**auth(root_token(api)), "Content-Type": "application/json"})
    expect_fields(resp, {"is_admin": [NOT_BOOLEAN]})
    resp = api.post(LOGIN, data='{"username": 1e400, "password": "x"}', headers={"Content-Type": "application/json"})
    expect_fields(resp, {"username": ["Not a valid string."]})


# --------------------------------------------------------------------------- Authorization header


def test_an_empty_authorization_header_is_a_missing_one(api):
    expect_message(api.get(LOGIN, headers={"Authorization": ""}), 401, "Missing Authorization Header")
    expect_message(api.get(FORM, headers={"Authorization": ""}), 401, "Missing Authorization Header")


def test_a_header_of_only_bearer_is_still_a_bad_header(api):
    expect_message(
        api.get(LOGIN, headers={"Authorization": "Bearer"}),
        422,
        "Bad Authorization header. Expected value 'Bearer <JWT>'",
    )


# --------------------------------------------------------------------------- trailing spaces


@pytest.mark.parametrize("name", ["root ", "root  ", " root"])
def test_a_username_with_spaces_is_not_root(api, name):
    expect_message(login(api, name, root_password(api)), 401, "Invalid credentials")
    expect_message(
        api.patch(ACCESS, json={"username": name, "is_admin": True}, headers=auth(root_token(api))),
        400,
        f"User '{name}' does not exist",
    )


def test_a_trailing_space_makes_another_username(api):
    name = uniq("dude")
    expect_204(register(api, register_body(username=name)))
    spaced = register_body(username=name + " ", email=f"{uniq('dude2')}@example.test")
    expect_204(register(api, spaced))
    rows = api.sql("SELECT username FROM users WHERE username_key IN (?, ?) ORDER BY id", (name.lower(), name.lower() + " "))
    assert [r["username"] for r in rows] == [name, name + " "]
    # and the spaced one is still unique, case-insensitively
    again = register_body(username=name.upper() + " ", email=f"{uniq('dude3')}@example.test")
    expect_message(register(api, again), 400, f"User {again['username']} already exists")


def test_an_email_with_spaces_around_is_the_same_address(api):
    body = register_body()
    expect_204(register(api, body))
    again = register_body(email=body["email"] + " ")
    expect_message(register(api, again), 400, f"A user with email {body['email']} already exists")
