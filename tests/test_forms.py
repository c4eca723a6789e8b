"""Black-box tests of the form API against the contract (/work/shared/spec/api.md, sections 1, 4, 6).

The database is shared by every test of one backend: each test creates its own users and only
reasons about the forms it created (an admin's listing holds every form of the session).
"""

import concurrent.futures
import json
import re

import pytest

from authhelpers import (
    ADMIN_REQUIRED,
    API,
    METHOD_NOT_ALLOWED,
    MISSING,
    NOT_NULL,
    NOT_STRING,
    NO_INPUT,
    auth,
    expect,
    expect_204,
    expect_message,
    mail_link,
    mails_since,
    make_user,
    now,
    outbox_max_id,
    public_host,
    root_token,
    set_admin,
    too_long,
    whoami,
)
from formhelpers import (
    BAD_TIME,
    FORM,
    FORM_KEYS,
    INPUT_FIELDS,
    MAX_TIME,
    MISSING_HEADER,
    NOT_CHOICE,
    NOT_INTEGER,
    NOT_NUMBER,
    RESOLVE,
    TOO_BIG,
    admin_emails,
    all_forms,
    already_resolved,
    check_form_shape,
    create_form,
    expected_form,
    form_body,
    form_subject,
    get_form,
    missing_form_id,
    not_allowed_delete,
    not_allowed_update,
    not_exist,
    raw_form_text,
    raw_json,
    resolve_as,
    resolved_no_edit,
)


@pytest.fixture(scope="module")
def submitter(api):
    """A plain user shared by the tests that only look at the forms they create themselves."""
    return make_user(api, log_in=True)


@pytest.fixture(scope="module")
def admin(api):
    return make_user(api, admin=True, log_in=True)


def post_raw(api, user, text):
    return raw_json(api, "POST", FORM, text, token=user.token)


# =========================================================================== section 1 rules


BODY_ENDPOINTS = [("POST", FORM), ("PATCH", FORM), ("DELETE", FORM), ("PUT", RESOLVE)]
EMPTY_BODIES = ["{}", "[]", "null", "false", "0", '""']


@pytest.mark.parametrize("method,path", BODY_ENDPOINTS)
@pytest.mark.parametrize("text", EMPTY_BODIES)
def test_empty_json_body_is_400_before_auth(api, method, path, text):
    expect_message(raw_json(api, method, path, text), 400, NO_INPUT)


@pytest.mark.parametrize("method,path", BODY_ENDPOINTS)
def test_absent_body_is_400_anonymous(api, method, path):
    expect_message(api.request(method, path), 400, NO_INPUT)


@pytest.mark.parametrize("method,path", BODY_ENDPOINTS)
def test_absent_or_empty_body_is_400_with_valid_admin_token(api, method, path):
    token = root_token(api)
    expect_message(api.request(method, path, headers=auth(token)), 400, NO_INPUT)
    expect_message(raw_json(api, method, path, "{}", token=token), 400, NO_INPUT)
    expect_message(raw_json(api, method, path, "[]", token=token), 400, NO_INPUT)
    expect_message(raw_json(api, method, path, "null", token=token), 400, NO_INPUT)


@pytest.mark.parametrize("method,path", BODY_ENDPOINTS)
def test_empty_body_beats_a_garbage_token(api, method, path):
    expect_message(raw_json(api, method, path, "{}", headers=auth("not-a-jwt")), 400, NO_INPUT)


@pytest.mark.parametrize("method,path", BODY_ENDPOINTS)
def test_non_json_content_type_is_no_input(api, method, path):
    resp = api.request(
        method,
        path,
        data=json.dumps({"id": 1}),
        headers={"Content-Type": "text/plain", **auth(root_token(api))},
    )
    expect_message(resp, 400, NO_INPUT)


@pytest.mark.parametrize("method,path", BODY_ENDPOINTS)
def test_malformed_json_is_400_with_message(api, method, path):
    resp = raw_json(api, method, path, '{"id": ', token=root_token(api))
    expect(resp, 400)
    body = resp.json()
    assert list(body) == ["message"] and isinstance(body["message"], str) and body["message"], body


def test_get_forms_without_authorization_header(api):
    expect_message(api.get(FORM), 401, MISSING_HEADER)


@pytest.mark.parametrize("method,path", BODY_ENDPOINTS)
def test_valid_body_without_authorization_header(api, method, path):
    body = form_body() if method == "POST" else {"id": 1}
    expect_message(api.request(method, path, json=body), 401, MISSING_HEADER)


def test_refresh_token_is_refused_on_forms(api, submitter):
    expect_message(api.get(FORM, headers=auth(submitter.refresh)), 422, "Only access tokens are allowed")
    expect_message(
        api.post(FORM, json=form_body(), headers=auth(submitter.refresh)), 422, "Only access tokens are allowed"
    )


@pytest.mark.parametrize(
    "method,path",
    [
        ("PUT", FORM),
        ("GET", RESOLVE),
        ("POST", RESOLVE),
        ("PATCH", RESOLVE),
        ("DELETE", RESOLVE),
    ],
)
def test_wrong_method_is_405(api, method, path):
    expect_message(api.request(method, path), 405, METHOD_NOT_ALLOWED)
    expect_message(api.request(method, path, json={"id": 1}, headers=auth(root_token(api))), 405, METHOD_NOT_ALLOWED)


def test_leading_double_slash_routes_form(api, submitter):
    form_id = create_form(api, submitter)
    resp = expect(api.get("/" + FORM, headers=submitter.headers), 200)
    assert form_id in [f["id"] for f in resp.json()]


# =========================================================================== POST /form


def test_post_returns_200_id_and_get_shows_the_exact_form(api):
    user = make_user(api, log_in=True)
    body = form_body(amount=123.99, payment_method="cheque")
    resp = expect(api.post(FORM, json=body, headers=user.headers), 200)
    assert resp.headers.get("Content-Type", "").startswith("application/json")
    created = resp.json()
    assert list(created) == ["id"]
    form_id = created["id"]
    assert isinstance(form_id, int) and not isinstance(form_id, bool)
    forms = all_forms(api, user.token)
    assert forms == [expected_form(form_id, user, body, "123.99")]
    check_form_shape(forms[0])
    assert list(forms[0].keys()) and set(forms[0]) == FORM_KEYS
    assert get_form(api, form_id) == forms[0]


def test_post_ids_are_distinct_and_ascending(api, submitter):
    ids = [create_form(api, submitter) for _ in range(3)]
    assert ids == sorted(ids) and len(set(ids)) == 3


def test_post_ignores_unknown_and_server_owned_keys(api):
    user = make_user(api, log_in=True)
    other = make_user(api, log_in=True)
    extras = {"id": 1, "submitter": other.username, "resolved_at": 12345, "colour": "blue"}
    body = form_body()
    form_id = create_form(api, user, **body, **extras)
    assert get_form(api, form_id) == expected_form(form_id, user, body, "123.99")
    assert all_forms(api, other.token) == []


AMOUNTS_OK = [
    ("123.99", "123.99"),
    ('"123.99"', "123.99"),
    ("200", "200.00"),
    ('"200"', "200.00"),
    ("1e2", "100.00"),
    ("0.005", "0.00"),
    ("0.015", "0.02"),
    ("0.025", "0.02"),
    ("0.125", "0.12"),
    ("0.135", "0.14"),
    ("2.675", "2.68"),  # through a float this would be 2.67
    ('"2.675"', "2.68"),
    ("1.005", "1.00"),
    ("-5", "-5.00"),
    ('"-5"', "-5.00"),
    ("0", "0.00"),
    ("123.990000", "123.99"),
    ("99999999999999.99", "99999999999999.99"),  # through a float this would be ...98
    ('"99999999999999.99"', "99999999999999.99"),
    ("-99999999999999.99", "-99999999999999.99"),
    ("12345678901234.5", "12345678901234.50"),
]


@pytest.mark.parametrize("literal,stored", AMOUNTS_OK, ids=[a for a, _ in AMOUNTS_OK])
def test_amount_is_an_exact_decimal_rounded_half_even(api, submitter, literal, stored):
    resp = expect(post_raw(api, submitter, raw_form_text(amount_literal=literal)), 200)
    form_id = resp.json()["id"]
    mine = [f for f in all_forms(api, submitter.token) if f["id"] == form_id]
    assert len(mine) == 1
    assert mine[0]["amount"] == stored
    assert isinstance(mine[0]["amount"], str)


AMOUNTS_TOO_BIG = ["100000000000000", "1e14", "1E14", '"100000000000000"', "100000000000000.00", "1e20"]


@pytest.mark.parametrize("literal", AMOUNTS_TOO_BIG)
def test_amount_of_ten_to_the_fourteen_or_more_is_422(api, submitter, literal):
    expect(post_raw(api, submitter, raw_form_text(amount_literal=literal)), 422, {"amount": [TOO_BIG]})


@pytest.mark.parametrize("literal", ["-100000000000000", "-1e14"])
def test_negative_amount_of_magnitude_ten_to_the_fourteen_is_422(api, submitter, literal):
    resp = expect(post_raw(api, submitter, raw_form_text(amount_literal=literal)), 422)
    body = resp.json()
    assert list(body) == ["amount"] and isinstance(body["amount"], list) and body["amount"], body


@pytest.mark.parametrize("literal", ['"abc"', "true", "false", "[]", "{}", '""', '"12abc"', "[1]"])
def test_amount_not_a_number(api, submitter, literal):
    expect(post_raw(api, submitter, raw_form_text(amount_literal=literal)), 422, {"amount": [NOT_NUMBER]})


def test_post_missing_every_field(api, submitter):
    expect(
        api.post(FORM, json={"unknown": 1}, headers=submitter.headers),
        422,
        {name: [MISSING] for name in INPUT_FIELDS},
    )


@pytest.mark.parametrize("name", INPUT_FIELDS)
def test_post_missing_one_field(api, submitter, name):
    body = form_body()
    del body[name]
    expect(api.post(FORM, json=body, headers=submitter.headers), 422, {name: [MISSING]})


def test_post_null_every_field(api, submitter):
    # a null time is the whole-object error, which hides the field errors
    expect(api.post(FORM, json={name: None for name in INPUT_FIELDS}, headers=submitter.headers), 422, BAD_TIME)
    fields = [name for name in INPUT_FIELDS if name != "time"]
    expect(
        api.post(FORM, json={**form_body(), **{name: None for name in fields}}, headers=submitter.headers),
        422,
        {name: [NOT_NULL] for name in fields},
    )


def test_post_wrong_types_reported_together(api, submitter):
    body = form_body(customer_name=5, course=["x"], receipt=12, payment_method=1, amount="abc")
    expect(
        api.post(FORM, json=body, headers=submitter.headers),
        422,
        {
            "customer_name": [NOT_STRING],
            "course": [NOT_STRING],
            "receipt": [NOT_STRING],
            "payment_method": [NOT_STRING],
            "amount": [NOT_NUMBER],
        },
    )


@pytest.mark.parametrize("value", [12, 1.5, True, {"a": 1}])
def test_receipt_must_be_a_string(api, submitter, value):
    expect(api.post(FORM, json=form_body(receipt=value), headers=submitter.headers), 422, {"receipt": [NOT_STRING]})


@pytest.mark.parametrize("value", ["card", "Cash", "CHEQUE", "", "cash "])
def test_payment_method_must_be_a_choice(api, submitter, value):
    expect(
        api.post(FORM, json=form_body(payment_method=value), headers=submitter.headers),
        422,
        {"payment_method": [NOT_CHOICE]},
    )


@pytest.mark.parametrize("method", ["cash", "cheque"])
def test_payment_method_choices_accepted(api, submitter, method):
    form_id = create_form(api, submitter, payment_method=method)
    assert get_form(api, form_id)["payment_method"] == method


def test_lengths_over_the_maximum_reported_together(api, submitter):
    body = form_body(customer_name="c" * 129, course="k" * 257, receipt="r" * 129)
    expect(
        api.post(FORM, json=body, headers=submitter.headers),
        422,
        {"customer_name": [too_long(128)], "course": [too_long(256)], "receipt": [too_long(128)]},
    )


def test_lengths_at_the_maximum_accepted(api, submitter):
    body = form_body(customer_name="c" * 128, course="k" * 256, receipt="r" * 128)
    form_id = create_form(api, submitter, **{k: body[k] for k in ("customer_name", "course", "receipt")})
    form = get_form(api, form_id)
    assert (form["customer_name"], form["course"], form["receipt"]) == ("c" * 128, "k" * 256, "r" * 128)


def test_lengths_count_characters_not_bytes(api, submitter):
    fields = {"customer_name": "é" * 128, "course": "€" * 256, "receipt": "ß" * 128}
    form_id = create_form(api, submitter, **fields)
    form = get_form(api, form_id)
    assert {k: form[k] for k in fields} == fields
    expect(
        api.post(FORM, json=form_body(customer_name="é" * 129), headers=submitter.headers),
        422,
        {"customer_name": [too_long(128)]},
    )


def test_unicode_and_markup_round_trip(api, submitter):
    fields = {"customer_name": "Zoë <b>O'Brien</b> & \"co\"", "course": "Ünïcødé 😀 course", "receipt": "Nº 5"}
    form_id = create_form(api, submitter, **fields)
    form = get_form(api, form_id)
    assert {k: form[k] for k in fields} == fields


def test_empty_strings_accepted(api, submitter):
    form_id = create_form(api, submitter, customer_name="", course="", receipt="")
    form = get_form(api, form_id)
    assert (form["customer_name"], form["course"], form["receipt"]) == ("", "", "")


@pytest.mark.parametrize("literal", ["0", "1", "1711302900", str(MAX_TIME)])
def test_time_valid_integers_round_trip(api, submitter, literal):
    resp = expect(post_raw(api, submitter, raw_form_text(time_literal=literal)), 200)
    assert get_form(api, resp.json()["id"])["time"] == int(literal)


@pytest.mark.parametrize(
    "literal",
    ["1.5", "1.0", "1711302900.0", "1e3", '"123"', '"1711302900"', "true", "false", "-1", str(MAX_TIME + 1),
     "99999999999999999999", "[]", "{}"],
)
def test_time_invalid_is_schema_error(api, submitter, literal):
    expect(post_raw(api, submitter, raw_form_text(time_literal=literal)), 422, BAD_TIME)


def test_time_null_is_the_schema_error(api, submitter):
    expect(post_raw(api, submitter, raw_form_text(time_literal="null")), 422, BAD_TIME)


def test_the_time_schema_error_hides_field_errors(api, submitter):
    # contract section 1: when `_schema` is present no field errors are reported
    text = raw_form_text(time_literal="1.5", customer_name=7)
    expect(post_raw(api, submitter, text), 422, BAD_TIME)
    text = raw_form_text(time_literal='"x"', amount_literal='"x"')
    expect(post_raw(api, submitter, text), 422, BAD_TIME)
    text = raw_form_text(time_literal="null", amount_literal='"x"', customer_name=None)
    expect(post_raw(api, submitter, text), 422, BAD_TIME)


@pytest.mark.parametrize("literal", ["1e400", "-1e400", "1E+400"])
def test_time_too_large_for_a_float_is_the_schema_error(api, submitter, literal):
    expect(post_raw(api, submitter, raw_form_text(time_literal=literal)), 422, BAD_TIME)


@pytest.mark.parametrize("literal", ["1e400", "-1e400", "1E+999"])
def test_amount_too_large_for_a_float_is_a_422_on_amount(api, submitter, literal):
    expect(post_raw(api, submitter, raw_form_text(amount_literal=literal)), 422, {"amount": [TOO_BIG]})


def test_numbers_too_large_for_a_float_in_other_fields(api, submitter):
    expect(raw_json(api, "PATCH", FORM, '{"id": 1e400}', token=submitter.token), 422, {"id": [NOT_INTEGER]})
    text = raw_form_text().replace('"Jane Customer"', "1e400")
    expect(post_raw(api, submitter, text), 422, {"customer_name": [NOT_STRING]})


def test_rejected_post_creates_nothing_and_sends_nothing(api):
    user = make_user(api, log_in=True)
    since = outbox_max_id(api)
    expect(api.post(FORM, json=form_body(amount="abc"), headers=user.headers), 422)
    expect(post_raw(api, user, raw_form_text(time_literal="-1")), 422)
    assert all_forms(api, user.token) == []
    assert expect(whoami(api, user.token), 200).json()["forms"] == []
    assert mails_since(api, since) == []


# --------------------------------------------------------------------------- new form e-mail


def test_new_form_emails_every_admin_once_with_own_resolve_link(api):
    extra_admin = make_user(api, admin=True, log_in=True)
    user = make_user(api, first_name="Submitta", last_name="Person", log_in=True)
    admins = admin_emails(api)
    assert extra_admin.email.lower() in admins and "root@example.test" in admins
    since = outbox_max_id(api)
    body = form_body(amount=123.99, payment_method="cash", course="Advanced Basket Weaving")
    form_id = create_form(api, user, **{k: body[k] for k in INPUT_FIELDS})
    rows = mails_since(api, since)
    assert sorted(r["to_address"].lower() for r in rows) == admins, rows
    prefix = f"http://{public_host(api)}/resolve?token="
    tokens = set()
    for row in rows:
        assert row["subject"] == form_subject(form_id)
        text = row["text_body"]
        assert "Submitta Person" in text and user.email in text, text
        assert "Advanced Basket Weaving" in text
        assert "Cash" in text and "€123.99" in text, text
        assert body["receipt"] in text
        assert "Advanced Basket Weaving" in row["html_body"] and "€123.99" in row["html_body"]
        link = mail_link(row)
        assert link.startswith(prefix), link
        assert link in text, "the plain-text part carries the same link"
        tokens.add(link[len(prefix):])
    assert len(tokens) == len(rows), "each admin gets their own resolve link"
    assert not mails_since(api, since, to=user.email)


def test_new_form_email_cheque_and_no_last_name(api):
    user = make_user(api, first_name="Solo", last_name=None, log_in=True)
    since = outbox_max_id(api)
    form_id = create_form(api, user, payment_method="cheque", amount=200)
    rows = mails_since(api, since, to="root@example.test")
    assert len(rows) == 1
    text = rows[0]["text_body"]
    assert rows[0]["subject"] == form_subject(form_id)
    assert "Cheque" in text and "€200.00" in text and "Solo" in text and user.email in text, text
    assert "None" not in text


def test_new_form_email_is_not_sent_to_demoted_admin_and_is_sent_to_promoted_user(api):
    demoted = make_user(api, admin=True, log_in=True)
    promoted = make_user(api, log_in=True)
    set_admin(api, demoted, False)
    set_admin(api, promoted, True)
    user = make_user(api, log_in=True)
    since = outbox_max_id(api)
    form_id = create_form(api, user)
    assert mails_since(api, since, to=demoted.email) == []
    rows = mails_since(api, since, to=promoted.email)
    assert len(rows) == 1 and rows[0]["subject"] == form_subject(form_id)


def test_link_is_built_on_public_host_not_on_the_host_header(api):
    user = make_user(api, log_in=True)
    since = outbox_max_id(api)
    resp = api.post(FORM, json=form_body(), headers={**user.headers, "Host": "evil.example.com"})
    form_id = expect(resp, 200).json()["id"]
    rows = mails_since(api, since, to="root@example.test")
    assert len(rows) == 1
    link = mail_link(rows[0])
    assert link.startswith(f"http://{public_host(api)}/resolve?token="), link
    assert "evil.example.com" not in rows[0]["html_body"] + rows[0]["text_body"]
    assert rows[0]["subject"] == form_subject(form_id)


# =========================================================================== GET /form


def test_get_lists_own_forms_for_users_and_every_form_for_admins(api):
    alice = make_user(api, log_in=True)
    bob = make_user(api, log_in=True)
    adm = make_user(api, admin=True, log_in=True)
    a1 = create_form(api, alice, amount=1)
    b1 = create_form(api, bob, amount=2)
    a2 = create_form(api, alice, amount=3)
    m1 = create_form(api, adm, amount=4)

    alice_forms = all_forms(api, alice.token)
    assert [f["id"] for f in alice_forms] == [a1, a2]
    assert [f["amount"] for f in alice_forms] == ["1.00", "3.00"]
    assert all(f["submitter"] == alice.username for f in alice_forms)
    assert [f["id"] for f in all_forms(api, bob.token)] == [b1]

    for token in (adm.token, root_token(api)):
        everything = all_forms(api, token)
        ids = [f["id"] for f in everything]
        assert ids == sorted(ids) and len(ids) == len(set(ids))
        mine = [f for f in everything if f["id"] in (a1, b1, a2, m1)]
        assert [(f["id"], f["submitter"]) for f in mine] == [
            (a1, alice.username),
            (b1, bob.username),
            (a2, alice.username),
            (m1, adm.username),
        ]
        for form in everything:
            check_form_shape(form)


def test_user_without_forms_gets_empty_list(api):
    user = make_user(api, log_in=True)
    resp = expect(api.get(FORM, headers=user.headers), 200, [])
    assert resp.headers.get("Content-Type", "").startswith("application/json")


def test_whoami_lists_own_form_ids_ascending(api):
    user = make_user(api, log_in=True)
    other = make_user(api, log_in=True)
    assert expect(whoami(api, user.token), 200).json()["forms"] == []
    ids = [create_form(api, user), create_form(api, other), create_form(api, user), create_form(api, user)]
    assert expect(whoami(api, user.token), 200).json()["forms"] == [ids[0], ids[2], ids[3]]
    assert expect(whoami(api, other.token), 200).json()["forms"] == [ids[1]]


def test_admin_status_is_read_live_for_listing(api):
    user = make_user(api, log_in=True)
    other = make_user(api, log_in=True)
    own = create_form(api, user)
    theirs = create_form(api, other)
    assert [f["id"] for f in all_forms(api, user.token)] == [own]
    set_admin(api, user, True)
    ids = [f["id"] for f in all_forms(api, user.token)]
    assert own in ids and theirs in ids
    set_admin(api, user, False)
    assert [f["id"] for f in all_forms(api, user.token)] == [own]


# =========================================================================== PATCH /form


def test_patch_validation(api, submitter):
    form_id = create_form(api, submitter)
    h = submitter.headers
    expect(api.patch(FORM, json={"course": "x"}, headers=h), 422, {"id": [MISSING]})
    expect(api.patch(FORM, json={"id": "x", "course": "x"}, headers=h), 422, {"id": [NOT_INTEGER]})
    expect(api.patch(FORM, json={"id": None}, headers=h), 422, {"id": [NOT_NULL]})
    expect(api.patch(FORM, json={"id": True}, headers=h), 422, {"id": [NOT_INTEGER]})
    expect(
        api.patch(FORM, json={"id": form_id, "amount": "abc", "payment_method": "card", "receipt": 3}, headers=h),
        422,
        {"amount": [NOT_NUMBER], "payment_method": [NOT_CHOICE], "receipt": [NOT_STRING]},
    )
    expect(
        api.patch(FORM, json={"id": form_id, "customer_name": None, "course": "k" * 257}, headers=h),
        422,
        {"customer_name": [NOT_NULL], "course": [too_long(256)]},
    )
    expect(api.patch(FORM, json={"id": form_id, "amount": 1e14}, headers=h), 422, {"amount": [TOO_BIG]})
    expect(raw_json(api, "PATCH", FORM, f'{{"id": {form_id}, "time": 1.5}}', token=submitter.token), 422, BAD_TIME)
    expect(raw_json(api, "PATCH", FORM, f'{{"id": {form_id}, "time": -1}}', token=submitter.token), 422, BAD_TIME)
    expect(
        raw_json(api, "PATCH", FORM, f'{{"id": {form_id}, "time": "1", "course": 5}}', token=submitter.token),
        422,
        BAD_TIME,
    )
    expect(
        api.patch(FORM, json={"id": "x", "amount": "abc"}, headers=h),
        422,
        {"id": [NOT_INTEGER], "amount": [NOT_NUMBER]},
    )


def test_patch_validation_comes_before_existence(api, submitter):
    missing = missing_form_id(api)
    expect(api.patch(FORM, json={"id": missing, "amount": "abc"}, headers=submitter.headers), 422, {"amount": [NOT_NUMBER]})


def test_patch_unknown_form(api, submitter):
    missing = missing_form_id(api)
    expect_message(api.patch(FORM, json={"id": missing, "course": "x"}, headers=submitter.headers), 400, not_exist(missing))
    expect_message(api.patch(FORM, json={"id": missing, "course": "x"}, headers=auth(root_token(api))), 400, not_exist(missing))


def test_patch_someone_elses_form_is_401_and_changes_nothing(api):
    owner = make_user(api, log_in=True)
    other = make_user(api, log_in=True)
    form_id = create_form(api, owner)
    before = get_form(api, form_id)
    since = outbox_max_id(api)
    expect_message(
        api.patch(FORM, json={"id": form_id, "course": "hijacked"}, headers=other.headers),
        401,
        not_allowed_update(form_id),
    )
    # even a no-op edit is refused
    expect_message(api.patch(FORM, json={"id": form_id}, headers=other.headers), 401, not_allowed_update(form_id))
    assert get_form(api, form_id) == before
    assert mails_since(api, since) == []


def test_patch_resolved_form_is_400_before_ownership(api):
    owner = make_user(api, log_in=True)
    other = make_user(api, log_in=True)
    form_id = create_form(api, owner)
    expect(resolve_as(api, root_token(api), form_id), 200)
    for headers in (owner.headers, other.headers, auth(root_token(api))):
        expect_message(
            api.patch(FORM, json={"id": form_id, "course": "late"}, headers=headers), 400, resolved_no_edit(form_id)
        )


def test_patch_returns_old_form_changes_only_supplied_fields_and_emails_admins(api):
    owner = make_user(api, first_name="Edith", last_name="Editor", log_in=True)
    body = form_body(course="A", amount=1, payment_method="cash", customer_name="Cust", receipt="R1", time=1711302900)
    form_id = create_form(api, owner, **{k: body[k] for k in INPUT_FIELDS})
    before = get_form(api, form_id)
    assert before == expected_form(form_id, owner, body, "1.00")
    admins = admin_emails(api)
    since = outbox_max_id(api)

    resp = expect(api.patch(FORM, json={"id": form_id, "course": "B", "amount": 2}, headers=owner.headers), 200)
    assert resp.json() == before, "200 carries the form as it was before the edit"

    after = get_form(api, form_id)
    assert after == {**before, "course": "B", "amount": "2.00"}
    assert all_forms(api, owner.token) == [after]

    rows = mails_since(api, since)
    assert sorted(r["to_address"].lower() for r in rows) == admins
    prefix = f"http://{public_host(api)}/resolve?token="
    for row in rows:
        assert row["subject"] == form_subject(form_id)
        text = row["text_body"]
        assert "Course: B (was A)" in text, text
        assert "€2.00 (was €1.00)" in text, text
        assert "Edith Editor" in text and owner.email in text
        for unchanged in ("Cust", "R1", "Cheque"):
            assert f"{unchanged} (was" not in text
        assert mail_link(row).startswith(prefix)


def test_patch_every_field(api):
    owner = make_user(api, log_in=True)
    body = form_body(course="Old course", amount="10", payment_method="cash", customer_name="Old cust",
                     receipt="Old receipt", time=1000)
    form_id = create_form(api, owner, **{k: body[k] for k in INPUT_FIELDS})
    before = get_form(api, form_id)
    since = outbox_max_id(api)
    change = {"time": 2000, "customer_name": "New cust", "course": "New course", "payment_method": "cheque",
              "amount": "10.015", "receipt": "New receipt"}
    expect(api.patch(FORM, json={"id": form_id, **change}, headers=owner.headers), 200, before)
    assert get_form(api, form_id) == {**before, **change, "amount": "10.02"}
    rows = mails_since(api, since, to="root@example.test")
    assert len(rows) == 1
    text = rows[0]["text_body"]
    for fragment in ("New cust (was Old cust)", "Course: New course (was Old course)", "Cheque (was Cash)",
                     "€10.02 (was €10.00)", "New receipt (was Old receipt)"):
        assert fragment in text, (fragment, text)


def test_patch_by_admin_names_the_original_submitter(api):
    owner = make_user(api, first_name="Olga", last_name="Owner", log_in=True)
    editor = make_user(api, admin=True, first_name="Adam", last_name="Admin", log_in=True)
    form_id = create_form(api, owner, course="A")
    before = get_form(api, form_id)
    since = outbox_max_id(api)
    expect(api.patch(FORM, json={"id": form_id, "course": "B"}, headers=editor.headers), 200, before)
    assert get_form(api, form_id)["course"] == "B"
    assert get_form(api, form_id)["submitter"] == owner.username
    rows = mails_since(api, since, to=editor.email)
    assert len(rows) == 1
    text = rows[0]["text_body"]
    assert "Adam Admin" in text and editor.email in text
    assert "Olga Owner" in text and owner.email in text
    assert "Course: B (was A)" in text


def test_patch_no_real_change_is_204_without_email(api):
    owner = make_user(api, log_in=True)
    body = form_body(amount="123.99", payment_method="cash")
    form_id = create_form(api, owner, **{k: body[k] for k in INPUT_FIELDS})
    before = get_form(api, form_id)
    since = outbox_max_id(api)
    expect_204(api.patch(FORM, json={"id": form_id}, headers=owner.headers))
    expect_204(api.patch(FORM, json={"id": form_id, **{k: body[k] for k in INPUT_FIELDS}}, headers=owner.headers))
    expect_204(api.patch(FORM, json={"id": form_id, "amount": 123.99, "course": body["course"]}, headers=owner.headers))
    expect_204(raw_json(api, "PATCH", FORM, f'{{"id": {form_id}, "amount": 123.990}}', token=owner.token))
    expect_204(raw_json(api, "PATCH", FORM, f'{{"id": {form_id}, "amount": 123.9901}}', token=owner.token))
    expect_204(api.patch(FORM, json={"id": form_id, "unknown": "x"}, headers=owner.headers))
    expect_204(api.patch(FORM, json={"id": form_id, "course": body["course"]}, headers=auth(root_token(api))))
    assert get_form(api, form_id) == before
    assert mails_since(api, since) == []


def test_patch_id_as_digit_string(api):
    owner = make_user(api, log_in=True)
    form_id = create_form(api, owner, course="A")
    before = get_form(api, form_id)
    expect(api.patch(FORM, json={"id": str(form_id), "course": "B"}, headers=owner.headers), 200, before)
    assert get_form(api, form_id)["course"] == "B"


def test_patch_twice_returns_previous_state_each_time(api):
    owner = make_user(api, log_in=True)
    form_id = create_form(api, owner, course="A", amount=1)
    first = get_form(api, form_id)
    expect(api.patch(FORM, json={"id": form_id, "course": "B"}, headers=owner.headers), 200, first)
    second = get_form(api, form_id)
    expect(api.patch(FORM, json={"id": form_id, "amount": "3.5"}, headers=owner.headers), 200, second)
    assert get_form(api, form_id) == {**first, "course": "B", "amount": "3.50"}


def test_patch_leaves_other_forms_alone(api):
    owner = make_user(api, log_in=True)
    f1 = create_form(api, owner, course="one")
    f2 = create_form(api, owner, course="two")
    before2 = get_form(api, f2)
    expect(api.patch(FORM, json={"id": f1, "course": "uno"}, headers=owner.headers), 200)
    assert get_form(api, f2) == before2


def test_patch_by_demoted_admin_is_refused(api):
    owner = make_user(api, log_in=True)
    adm = make_user(api, admin=True, log_in=True)
    form_id = create_form(api, owner, course="A")
    set_admin(api, adm, False)
    expect_message(api.patch(FORM, json={"id": form_id, "course": "B"}, headers=adm.headers), 401,
                   not_allowed_update(form_id))


# =========================================================================== DELETE /form


def test_delete_validation(api, submitter):
    expect(api.delete(FORM, json={"id": "x"}, headers=submitter.headers), 422, {"id": [NOT_INTEGER]})
    expect(api.delete(FORM, json={"foo": 1}, headers=submitter.headers), 422, {"id": [MISSING]})
    expect(api.delete(FORM, json={"id": None}, headers=submitter.headers), 422, {"id": [NOT_NULL]})


def test_delete_unknown_form(api, submitter):
    missing = missing_form_id(api)
    expect_message(api.delete(FORM, json={"id": missing}, headers=submitter.headers), 400, not_exist(missing))


def test_delete_someone_elses_form_is_401(api):
    owner = make_user(api, log_in=True)
    other = make_user(api, log_in=True)
    form_id = create_form(api, owner)
    before = get_form(api, form_id)
    expect_message(api.delete(FORM, json={"id": form_id}, headers=other.headers), 401, not_allowed_delete(form_id))
    assert get_form(api, form_id) == before


def test_delete_own_form_returns_it_and_removes_it(api):
    owner = make_user(api, log_in=True)
    keep = create_form(api, owner)
    form_id = create_form(api, owner, amount=42.5)
    before = get_form(api, form_id)
    assert before["amount"] == "42.50"
    expect(api.delete(FORM, json={"id": form_id}, headers=owner.headers), 200, before)
    assert [f["id"] for f in all_forms(api, owner.token)] == [keep]
    assert get_form(api, form_id) is None
    assert expect(whoami(api, owner.token), 200).json()["forms"] == [keep]
    expect_message(api.delete(FORM, json={"id": form_id}, headers=owner.headers), 400, not_exist(form_id))
    expect_message(api.patch(FORM, json={"id": form_id, "course": "x"}, headers=owner.headers), 400,
                   not_exist(form_id))
    expect_message(resolve_as(api, root_token(api), form_id), 400, not_exist(form_id))


def test_delete_id_as_digit_string(api):
    owner = make_user(api, log_in=True)
    form_id = create_form(api, owner)
    before = get_form(api, form_id)
    expect(api.delete(FORM, json={"id": str(form_id)}, headers=owner.headers), 200, before)


def test_admin_deletes_any_form_including_resolved(api):
    owner = make_user(api, log_in=True)
    adm = make_user(api, admin=True, log_in=True)
    open_id = create_form(api, owner)
    resolved_id = create_form(api, owner)
    expect(resolve_as(api, adm.token, resolved_id), 200)
    before_open = get_form(api, open_id)
    before_resolved = get_form(api, resolved_id)
    assert isinstance(before_resolved["resolved_at"], int)
    expect(api.delete(FORM, json={"id": open_id}, headers=adm.headers), 200, before_open)
    expect(api.delete(FORM, json={"id": resolved_id}, headers=adm.headers), 200, before_resolved)
    assert all_forms(api, owner.token) == []


def test_owner_deletes_own_resolved_form(api):
    owner = make_user(api, log_in=True)
    form_id = create_form(api, owner)
    resolved = expect(resolve_as(api, root_token(api), form_id), 200).json()
    expect(api.delete(FORM, json={"id": form_id}, headers=owner.headers), 200, resolved)
    assert all_forms(api, owner.token) == []


# =========================================================================== PUT /form/resolve


def test_resolve_requires_admin(api):
    owner = make_user(api, log_in=True)
    form_id = create_form(api, owner)
    expect_message(resolve_as(api, owner.token, form_id), 401, ADMIN_REQUIRED)
    # the admin check comes before validation
    expect_message(api.put(RESOLVE, json={"id": "x"}, headers=owner.headers), 401, ADMIN_REQUIRED)
    assert get_form(api, form_id)["resolved_at"] is None


def test_resolve_validation(api):
    token = root_token(api)
    expect(api.put(RESOLVE, json={"id": "x"}, headers=auth(token)), 422, {"id": [NOT_INTEGER]})
    expect(api.put(RESOLVE, json={"foo": 1}, headers=auth(token)), 422, {"id": [MISSING]})
    expect(api.put(RESOLVE, json={"id": None}, headers=auth(token)), 422, {"id": [NOT_NULL]})


def test_resolve_unknown_form(api):
    missing = missing_form_id(api)
    expect_message(resolve_as(api, root_token(api), missing), 400, not_exist(missing))


def test_resolve_success_returns_updated_form_and_emails_submitter_once(api):
    owner = make_user(api, first_name="Rita", last_name="Resolved", log_in=True)
    adm = make_user(api, admin=True, log_in=True)
    form_id = create_form(api, owner, payment_method="cheque", amount="77.1")
    before = get_form(api, form_id)
    assert before["resolved_at"] is None
    since = outbox_max_id(api)
    t0 = now()
    resp = expect(resolve_as(api, adm.token, form_id), 200)
    t1 = now()
    form = resp.json()
    check_form_shape(form)
    assert isinstance(form["resolved_at"], int) and t0 - 2 <= form["resolved_at"] <= t1 + 2, form
    assert form == {**before, "resolved_at": form["resolved_at"]}
    assert get_form(api, form_id) == form
    assert all_forms(api, owner.token) == [form]

    rows = mails_since(api, since)
    assert len(rows) == 1, rows
    row = rows[0]
    assert row["to_address"].lower() == owner.email.lower()
    assert row["subject"] == form_subject(form_id)
    assert "resolved" in row["text_body"].lower()
    assert "Cheque" in row["text_body"] and "€77.10" in row["text_body"]
    for part in (row["text_body"], row["html_body"]):
        assert "/resolve?token=" not in part and "/reset-password" not in part
    links = re.findall(r"https?://[^\s\"'<>]+", row["html_body"] + " " + row["text_body"])
    assert all("/static/" in link for link in links), links

    expect_message(resolve_as(api, adm.token, form_id), 400, already_resolved(form_id))
    expect_message(resolve_as(api, root_token(api), form_id), 400, already_resolved(form_id))
    # no further e-mail (compare ids: the row itself moves on once it is delivered)
    assert [r["id"] for r in mails_since(api, since)] == [row["id"]]
    assert get_form(api, form_id)["resolved_at"] == form["resolved_at"]


def test_resolve_with_double_slash_and_digit_string_id(api):
    owner = make_user(api, log_in=True)
    f1 = create_form(api, owner)
    f2 = create_form(api, owner)
    token = root_token(api)
    r1 = expect(api.put("/" + RESOLVE, json={"id": f1}, headers=auth(token)), 200).json()
    assert r1["id"] == f1 and isinstance(r1["resolved_at"], int)
    r2 = expect(api.put(RESOLVE, json={"id": str(f2)}, headers=auth(token)), 200).json()
    assert r2["id"] == f2 and isinstance(r2["resolved_at"], int)
    expect_message(api.put("/" + RESOLVE, json={"id": f1}, headers=auth(token)), 400, already_resolved(f1))


def test_resolve_by_demoted_admin_is_refused(api):
    owner = make_user(api, log_in=True)
    adm = make_user(api, admin=True, log_in=True)
    form_id = create_form(api, owner)
    set_admin(api, adm, False)
    expect_message(resolve_as(api, adm.token, form_id), 401, ADMIN_REQUIRED)
    set_admin(api, adm, True)
    expect(resolve_as(api, adm.token, form_id), 200)


def test_concurrent_resolves_exactly_one_wins(api):
    owner = make_user(api, log_in=True)
    form_id = create_form(api, owner)
    token = root_token(api)
    since = outbox_max_id(api)
    n = 8
    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
        responses = list(pool.map(lambda _: resolve_as(api, token, form_id), range(n)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [400] * (n - 1), [(r.status_code, r.text[:200]) for r in responses]
    for resp in responses:
        if resp.status_code == 400:
            assert resp.json() == {"message": already_resolved(form_id)}
        else:
            assert isinstance(resp.json()["resolved_at"], int)
    rows = mails_since(api, since)
    assert len(rows) == 1 and rows[0]["to_address"].lower() == owner.email.lower(), rows


def test_no_email_on_refused_actions(api):
    owner = make_user(api, log_in=True)
    other = make_user(api, log_in=True)
    form_id = create_form(api, owner)
    since = outbox_max_id(api)
    expect(api.patch(FORM, json={"id": form_id, "course": "x"}, headers=other.headers), 401)
    expect(resolve_as(api, owner.token, form_id), 401)
    expect(api.delete(FORM, json={"id": form_id}, headers=other.headers), 401)
    assert mails_since(api, since) == []


def test_api_paths_under_prefix_unknown_is_404(api):
    expect_message(api.get(API + "/forms", headers=auth(root_token(api))), 404, "Not found")
    expect_message(api.get(FORM + "/resolved", headers=auth(root_token(api))), 404, "Not found")


def test_whoami_forms_of_an_admin_are_only_their_own(api):
    adm = make_user(api, admin=True, log_in=True)
    other = make_user(api, log_in=True)
    create_form(api, other)
    form_id = create_form(api, adm)
    assert expect(whoami(api, adm.token), 200).json()["forms"] == [form_id]


def test_a_long_list_arrives_as_listed_with_or_without_gzip(api):
    """A list over 16 KiB travels from the function to the front in base64
    (shared::web::wire); the client gets the same JSON text with or without gzip, with every
    quote, backslash and non-ASCII character of the forms intact."""
    user = make_user(api, log_in=True)
    odd = 'Zoë "quoted" \\ back€ </script> 𝄞 '
    sent = {}
    for i in range(32):
        names = {"customer_name": (f"{i} " + odd * 4)[:128], "course": (odd * 8)[:250] + str(i)}
        sent[create_form(api, user, **names)] = names
    headers = {**user.headers, "Accept-Encoding": "identity"}
    plain = expect(api.get(FORM, headers=headers), 200)
    assert "Content-Encoding" not in plain.headers
    assert plain.headers["Content-Type"] == "application/json"
    assert len(plain.content) > 16 * 1024, len(plain.content)
    zipped = expect(api.get(FORM, headers={**headers, "Accept-Encoding": "gzip"}), 200)
    assert zipped.headers.get("Content-Encoding") == "gzip"
    assert zipped.content == plain.content  # requests decompresses
    listed = {f["id"]: {"customer_name": f["customer_name"], "course": f["course"]} for f in plain.json()}
    assert listed == sent
