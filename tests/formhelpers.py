"""Shared helpers for the black-box form tests (contract sections 1, 4, 5 and 6).

The basics (expectations, tokens, links, users, the outbox) are authhelpers.py's, imported from
there: users are created through the API as root (`make_user`), their first password is set
through the e-mailed link, and the form tests log them in (`log_in=True`). Facts the API does
not expose (a user's id, the outbox, the current admins) come from `api.sql` / `api.outbox`.
"""

import json
import re
import uuid

from authhelpers import API, auth, expect, root_token

FORM = API + "/form"
RESOLVE = API + "/form/resolve"
RESOLVE_PAGE = "/resolve"

MISSING_HEADER = "Missing Authorization Header"

NOT_INTEGER = "Not a valid integer."
NOT_NUMBER = "Not a valid number."
NOT_CHOICE = "Not a valid choice."
TOO_BIG = "Must be less than 100000000000000."
BAD_TIME = {"_schema": ["time must be a valid Unix timestamp"]}

FORM_KEYS = {
    "id",
    "submitter",
    "time",
    "customer_name",
    "course",
    "payment_method",
    "amount",
    "receipt",
    "resolved_at",
}
INPUT_FIELDS = ("time", "customer_name", "course", "payment_method", "amount", "receipt")
MAX_TIME = 253402300799  # 9999-12-31T23:59:59Z


def not_exist(form_id):
    return f"Form {form_id} does not exist"


def resolved_no_edit(form_id):
    return f"Form {form_id} has been resolved, it can no longer be edited"


def not_allowed_update(form_id):
    return f"You must have either submitted form {form_id} or be an admin to update it"


def not_allowed_delete(form_id):
    return f"You must have either submitted form {form_id} or be an admin to delete it"


def already_resolved(form_id):
    return f"Form {form_id} is already resolved"


def form_subject(form_id):
    return f"Form no. {form_id}"


# --------------------------------------------------------------------------- basics


def raw_json(api, method, path, text, token=None, headers=None):
    """Send a hand-built JSON text (number literals are sent exactly as written)."""
    hdrs = {"Content-Type": "application/json"}
    if token is not None:
        hdrs.update(auth(token))
    if headers:
        hdrs.update(headers)
    return api.request(method, path, data=text.encode("utf-8"), headers=hdrs)


# --------------------------------------------------------------------------- users


def user_id(api, username):
    rows = api.sql("SELECT id FROM users WHERE username = ?", (username,))
    assert len(rows) == 1, rows
    return int(rows[0]["id"])


def admin_emails(api):
    """Addresses of every current admin, lower-cased."""
    rows = api.sql("SELECT email FROM users WHERE is_admin = 1")
    return sorted(r["email"].lower() for r in rows)


# --------------------------------------------------------------------------- forms


def form_body(**overrides):
    body = {
        "time": 1711302900,
        "customer_name": "Jane Customer",
        "course": "Course " + uuid.uuid4().hex[:6],
        "payment_method": "cash",
        "amount": 123.99,
        "receipt": "R-" + uuid.uuid4().hex[:6],
    }
    body.update(overrides)
    return body


def raw_form_text(amount_literal="123.99", time_literal="1711302900", **fields):
    """A POST body as JSON text with `amount` and `time` spliced in verbatim."""
    base = {
        "customer_name": "Jane Customer",
        "course": "Literal course",
        "payment_method": "cash",
        "receipt": "R-lit",
    }
    base.update(fields)
    inner = json.dumps(base)[1:-1]
    return f'{{{inner}, "time": {time_literal}, "amount": {amount_literal}}}'


def create_form(api, user, **overrides):
    """POST a valid form as `user` and return its id."""
    resp = expect(api.post(FORM, json=form_body(**overrides), headers=user.headers), 200)
    body = resp.json()
    assert set(body) == {"id"} and isinstance(body["id"], int) and not isinstance(body["id"], bool), body
    return body["id"]


def all_forms(api, token=None):
    token = root_token(api) if token is None else token
    resp = expect(api.get(FORM, headers=auth(token)), 200)
    forms = resp.json()
    assert isinstance(forms, list), forms
    return forms


def get_form(api, form_id):
    """The form as the root admin sees it, or None."""
    matches = [f for f in all_forms(api) if f["id"] == form_id]
    assert len(matches) <= 1, matches
    return matches[0] if matches else None


def check_form_shape(form):
    assert set(form) == FORM_KEYS, f"keys {sorted(form)}"
    assert isinstance(form["id"], int) and not isinstance(form["id"], bool)
    assert isinstance(form["submitter"], str)
    assert isinstance(form["time"], int) and not isinstance(form["time"], bool)
    for key in ("customer_name", "course", "receipt"):
        assert isinstance(form[key], str), (key, form[key])
    assert form["payment_method"] in ("cash", "cheque")
    assert isinstance(form["amount"], str) and re.fullmatch(r"-?\d+\.\d\d", form["amount"]), form["amount"]
    assert form["resolved_at"] is None or (
        isinstance(form["resolved_at"], int) and not isinstance(form["resolved_at"], bool)
    ), form["resolved_at"]


def expected_form(form_id, user, body, amount, resolved_at=None):
    return {
        "id": form_id,
        "submitter": user.username,
        "time": body["time"],
        "customer_name": body["customer_name"],
        "course": body["course"],
        "payment_method": body["payment_method"],
        "amount": amount,
        "receipt": body["receipt"],
        "resolved_at": resolved_at,
    }


def missing_form_id(api):
    """An id no form has (and none will get soon): well past the current maximum."""
    rows = api.sql("SELECT MAX(id) AS m FROM forms")
    top = rows[0]["m"] if rows and rows[0]["m"] is not None else 0
    return int(top) + 1_000_000


def resolve_as(api, token, form_id, path=RESOLVE):
    return api.put(path, json={"id": form_id}, headers=auth(token))
