"""Black-box tests of the auth API against the contract (/work/shared/spec/api.md, sections 1-3, 8).

Every test creates its own uniquely named users: the database is shared by the whole session of
one backend.
"""

import json
import uuid

import pytest

from authhelpers import (
    ACCESS,
    ADMIN_REQUIRED,
    API,
    DROP,
    JWT_CLAIMS_ACCESS,
    JWT_CLAIMS_REFRESH,
    LOGIN,
    METHOD_NOT_ALLOWED,
    MISSING,
    NO_INPUT,
    NOT_BOOLEAN,
    NOT_NULL,
    NOT_STRING,
    REGISTER,
    REGISTRATION_SUBJECT,
    RESET_SUBJECT,
    TOKEN,
    access_token,
    auth,
    decode_jwt,
    env,
    expect,
    expect_204,
    expect_fields,
    expect_message,
    forge_jwt,
    get_page,
    int_env,
    last_mail_to,
    link_path,
    link_token,
    login,
    mail_link,
    mails_to,
    make_user,
    new_password,
    now,
    post_page,
    register,
    register_body,
    request_reset,
    root_password,
    root_token,
    set_access,
    standard_claims,
    tamper_signature,
    tokens,
    too_long,
    uniq,
    user_row,
    whoami,
)

INVALID_CREDENTIALS = "Invalid credentials"
BAD_HEADER = "Bad Authorization header. Expected value 'Bearer <JWT>'"


# =========================================================================== POST /auth/login


def test_login_returns_exactly_access_and_refresh_token(api):
    user = make_user(api)
    resp = expect(login(api, user.username, user.password), 200)
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"access_token", "refresh_token"}
    assert all(isinstance(v, str) and v for v in body.values())


def test_login_tokens_are_standard_hs256_jwts_with_the_contract_claims(api):
    user = make_user(api)
    before = now()
    body = tokens(api, user.username, user.password)
    after = now()

    for kind, token, claim_set, expiry_key, default in (
        ("access", body["access_token"], JWT_CLAIMS_ACCESS, "JWT_ACCESS_EXPIRY", 900),
        ("refresh", body["refresh_token"], JWT_CLAIMS_REFRESH, "JWT_REFRESH_EXPIRY", 86400),
    ):
        header, claims = decode_jwt(api, token)
        assert header == {"typ": "JWT", "alg": "HS256"}
        assert set(claims) == claim_set, f"{kind} claims {sorted(claims)}"
        assert claims["type"] == kind
        assert claims["identity"] == user.username
        for key in ("iat", "nbf", "exp"):
            assert type(claims[key]) is int, f"{kind} {key} = {claims[key]!r}"
        assert before - 1 <= claims["iat"] <= after + 1
        assert claims["nbf"] == claims["iat"]
        assert claims["exp"] - claims["iat"] == int_env(api, expiry_key, default)
        assert isinstance(claims["jti"], str) and claims["jti"]
        if kind == "access":
            assert claims["fresh"] is False

    _, access = decode_jwt(api, body["access_token"])
    _, refresh = decode_jwt(api, body["refresh_token"])
    assert access["jti"] != refresh["jti"]


def test_login_jti_is_unique_per_token(api):
    user = make_user(api)
    jtis = set()
    for _ in range(3):
        body = tokens(api, user.username, user.password)
        for token in body.values():
            jtis.add(decode_jwt(api, token)[1]["jti"])
    assert len(jtis) == 6


def test_login_unknown_user_is_invalid_credentials(api):
    expect_message(login(api, uniq("ghost"), "whatever"), 401, INVALID_CREDENTIALS)


def test_login_wrong_password_is_invalid_credentials(api):
    user = make_user(api)
    expect_message(login(api, user.username, user.password + "x"), 401, INVALID_CREDENTIALS)


def test_login_empty_password_is_invalid_credentials(api):
    user = make_user(api)
    expect_message(login(api, user.username, ""), 401, INVALID_CREDENTIALS)


def test_login_before_the_password_is_set(api):
    user = make_user(api, password=None)
    expect_message(login(api, user.username, "anything"), 400, "Your password is not set")


def test_login_root_with_root_password(api):
    # Section 8: ROOT_PASSWORD is root's password when set (it is in the tests).
    body = tokens(api, "root", root_password(api))
    assert decode_jwt(api, body["access_token"])[1]["identity"] == "root"


@pytest.mark.parametrize(
    "body, errors",
    [
        ({"username": "someone"}, {"password": [MISSING]}),
        ({"password": "x"}, {"username": [MISSING]}),
        ({"username": 5, "password": "x"}, {"username": [NOT_STRING]}),
        ({"username": "someone", "password": 5}, {"password": [NOT_STRING]}),
        ({"username": ["a"], "password": {"a": 1}}, {"username": [NOT_STRING], "password": [NOT_STRING]}),
        ({"username": None, "password": "x"}, {"username": [NOT_NULL]}),
        ({"username": "a" * 129, "password": "x"}, {"username": [too_long(128)]}),
        ({"username": 5}, {"username": [NOT_STRING], "password": [MISSING]}),
        ({"unknown": 1}, {"username": [MISSING], "password": [MISSING]}),
    ],
    ids=[
        "missing-password",
        "missing-username",
        "int-username",
        "int-password",
        "both-not-strings",
        "null-username",
        "username-too-long",
        "bad-username-and-missing-password",
        "only-unknown-key",
    ],
)
def test_login_validation_errors(api, body, errors):
    expect_fields(api.post(LOGIN, json=body), errors)


def test_login_username_of_exactly_128_chars_is_valid(api):
    # Exactly at the limit: passes validation, so the answer is about credentials.
    expect_message(login(api, "a" * 128, "x"), 401, INVALID_CREDENTIALS)


def test_login_ignores_unknown_keys(api):
    user = make_user(api)
    resp = api.post(LOGIN, json={"username": user.username, "password": user.password, "extra": [1]})
    expect(resp, 200)
    assert set(resp.json()) == {"access_token", "refresh_token"}


def test_login_accepts_json_content_type_with_charset(api):
    # The mobile app's HTTP client sends "application/json; charset=utf-8".
    user = make_user(api)
    resp = api.post(
        LOGIN,
        data=json.dumps({"username": user.username, "password": user.password}).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    expect(resp, 200)
    assert set(resp.json()) == {"access_token", "refresh_token"}


@pytest.mark.parametrize("slashes", ["//", "///"])
def test_login_with_leading_slashes_routes_like_one(api, slashes):
    user = make_user(api)
    path = slashes + LOGIN.lstrip("/")
    resp = expect(login(api, user.username, user.password, path=path), 200)
    body = resp.json()
    assert set(body) == {"access_token", "refresh_token"}
    expect(whoami(api, body["access_token"]), 200)
    expect_message(login(api, user.username, "wrong", path=path), 401, INVALID_CREDENTIALS)
    expect_fields(api.post(path, json={"username": user.username}), {"password": [MISSING]})


# =========================================================================== GET /auth/login


def test_whoami_has_exactly_the_eight_keys_with_their_types(api):
    before = now()
    user = make_user(api, first_name="Ada", last_name="Lovelace")
    after = now()
    resp = expect(whoami(api, access_token(api, user)), 200)
    me = resp.json()
    assert set(me) == {
        "id",
        "username",
        "email",
        "first_name",
        "last_name",
        "is_admin",
        "registration_time",
        "forms",
    }
    assert type(me["id"]) is int
    assert me["id"] == user_row(api, user.username)["id"]
    assert me["username"] == user.username
    assert me["email"] == user.email
    assert me["first_name"] == "Ada"
    assert me["last_name"] == "Lovelace"
    assert me["is_admin"] is False
    assert type(me["registration_time"]) is int
    assert before - 1 <= me["registration_time"] <= after + 1
    assert me["forms"] == []


def test_whoami_last_name_null(api):
    user = make_user(api, last_name=None)
    me = expect(whoami(api, access_token(api, user)), 200).json()
    assert me["last_name"] is None
    assert me["first_name"] == user.first_name


def test_whoami_admin_flag_is_a_boolean(api):
    user = make_user(api, admin=True)
    me = expect(whoami(api, access_token(api, user)), 200).json()
    assert me["is_admin"] is True


def test_root_user_exists_as_admin_administrator(api):
    # Section 8: `root`, ROOT_EMAIL, first name "Administrator", no last name, admin.
    me = expect(whoami(api, root_token(api)), 200).json()
    assert me["username"] == "root"
    assert me["email"] == env(api, "ROOT_EMAIL", "root@example.test")
    assert me["first_name"] == "Administrator"
    assert me["last_name"] is None
    assert me["is_admin"] is True
    assert type(me["id"]) is int


# =========================================================================== JWT verification (section 2)


def test_jwt_no_authorization_header(api):
    expect_message(api.get(LOGIN), 401, "Missing Authorization Header")


@pytest.mark.parametrize("value", ["Token abc", "Bearer"])
def test_jwt_header_not_bearer(api, value):
    expect_message(api.get(LOGIN, headers={"Authorization": value}), 422, BAD_HEADER)


def test_jwt_not_enough_segments(api):
    expect_message(api.get(LOGIN, headers=auth("abc")), 422, "Not enough segments")


def test_jwt_tampered_signature(api):
    user = make_user(api)
    token = tamper_signature(access_token(api, user))
    expect_message(whoami(api, token), 422, "Signature verification failed")


def test_jwt_signed_with_another_secret(api):
    user = make_user(api)
    token = forge_jwt(api, standard_claims(user.username), secret="not-the-secret")
    expect_message(whoami(api, token), 422, "Signature verification failed")


def test_jwt_forged_with_the_right_secret_is_accepted(api):
    # Positive control for every forged-token test below.
    user = make_user(api)
    me = expect(whoami(api, forge_jwt(api, standard_claims(user.username))), 200).json()
    assert me["username"] == user.username


@pytest.mark.parametrize("alg", ["HS512", "HS384", "none"])
def test_jwt_algorithm_is_pinned(api, alg):
    user = make_user(api)
    token = forge_jwt(api, standard_claims(user.username), alg=alg)
    expect_message(whoami(api, token), 422, "The specified alg value is not allowed")


def test_jwt_not_yet_valid(api):
    user = make_user(api)
    token = forge_jwt(api, standard_claims(user.username, nbf=now() + 120))
    expect_message(whoami(api, token), 422, "The token is not yet valid (nbf)")


def test_jwt_missing_identity(api):
    claims = standard_claims("x")
    del claims["identity"]
    token = forge_jwt(api, claims)
    expect_message(whoami(api, token), 422, "Missing claim: identity")


@pytest.mark.parametrize("kind", [DROP, "bogus", None], ids=["missing", "bogus", "null"])
def test_jwt_missing_or_invalid_type(api, kind):
    user = make_user(api)
    token = forge_jwt(api, standard_claims(user.username, type=kind))
    expect_message(whoami(api, token), 422, "Missing or invalid claim: type")


def test_jwt_expired_access(api):
    user = make_user(api)
    issued = now() - 1000
    token = forge_jwt(api, standard_claims(user.username, issued=issued, lifetime=900))
    expect_message(whoami(api, token), 401, "Token has expired")


def test_jwt_expired_has_no_leeway(api):
    user = make_user(api)
    token = forge_jwt(api, standard_claims(user.username, issued=now() - 60, exp=now() - 3))
    expect_message(whoami(api, token), 401, "Token has expired")


def test_jwt_expired_is_checked_before_the_token_kind(api):
    user = make_user(api)
    issued = now() - 100000
    expired_refresh = forge_jwt(
        api, standard_claims(user.username, kind="refresh", issued=issued, lifetime=86400)
    )
    expect_message(whoami(api, expired_refresh), 401, "Token has expired")
    expired_access = forge_jwt(api, standard_claims(user.username, issued=issued, lifetime=900))
    expect_message(api.post(TOKEN, headers=auth(expired_access)), 401, "Token has expired")


def test_jwt_expired_is_checked_before_the_type_claim(api):
    user = make_user(api)
    token = forge_jwt(
        api, standard_claims(user.username, issued=now() - 1000, lifetime=900, type="bogus")
    )
    expect_message(whoami(api, token), 401, "Token has expired")


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("GET", LOGIN, None),
        ("PUT", LOGIN, {"password": "new-password"}),
        ("POST", REGISTER, "register"),
        ("PATCH", ACCESS, {"username": "root", "is_admin": True}),
    ],
    ids=["get-login", "put-login", "post-register", "patch-access"],
)
def test_refresh_token_where_access_is_needed(api, method, path, body):
    user = make_user(api, admin=True)
    refresh = tokens(api, user.username, user.password)["refresh_token"]
    if body == "register":
        body = register_body()
    kw = {} if body is None else {"json": body}
    resp = api.request(method, path, headers=auth(refresh), **kw)
    expect_message(resp, 422, "Only access tokens are allowed")
    # nothing happened
    expect(login(api, user.username, user.password), 200)
    if path == REGISTER:
        assert api.sql("SELECT id FROM users WHERE username = ?", (body["username"],)) == []


def test_access_token_on_refresh_endpoint(api):
    user = make_user(api)
    access = access_token(api, user)
    expect_message(api.post(TOKEN, headers=auth(access)), 422, "Only refresh tokens are allowed")


def test_jwt_for_a_username_that_does_not_exist(api):
    ghost = uniq("ghost")
    token = forge_jwt(api, standard_claims(ghost))
    expect_message(whoami(api, token), 401, f"User {ghost} specified by token does not exist")
    refresh = forge_jwt(api, standard_claims(ghost, kind="refresh", lifetime=86400))
    expect_message(
        api.post(TOKEN, headers=auth(refresh)), 401, f"User {ghost} specified by token does not exist"
    )


def test_jwt_of_a_deleted_user(api):
    user = make_user(api)
    access = access_token(api, user)
    expect(whoami(api, access), 200)
    api.sql("DELETE FROM users WHERE username = ?", (user.username,))
    expect_message(whoami(api, access), 401, f"User {user.username} specified by token does not exist")


def test_revoked_token(api):
    user = make_user(api)
    access = access_token(api, user)
    expect_204(api.delete(TOKEN, headers=auth(access)))
    expect_message(whoami(api, access), 401, "Token has been revoked")


# =========================================================================== PUT /auth/login


def test_change_password(api):
    user = make_user(api)
    access = access_token(api, user)
    new = new_password()
    expect_204(api.put(LOGIN, json={"password": new}, headers=auth(access)))
    expect_message(login(api, user.username, user.password), 401, INVALID_CREDENTIALS)
    expect(login(api, user.username, new), 200)
    # the token used for the call stays valid
    assert expect(whoami(api, access), 200).json()["username"] == user.username


@pytest.mark.parametrize(
    "body, errors",
    [
        ({"password": 12345678}, {"password": [NOT_STRING]}),
        ({"password": ["a"]}, {"password": [NOT_STRING]}),
        ({"password": None}, {"password": [NOT_NULL]}),
        ({"pass": "x"}, {"password": [MISSING]}),
    ],
    ids=["int", "list", "null", "missing"],
)
def test_change_password_validation(api, body, errors):
    user = make_user(api)
    expect_fields(api.put(LOGIN, json=body, headers=auth(access_token(api, user))), errors)
    expect(login(api, user.username, user.password), 200)


def test_change_password_to_empty_is_a_422_on_the_password_field(api):
    user = make_user(api)
    resp = expect(api.put(LOGIN, json={"password": ""}, headers=auth(access_token(api, user))), 422)
    body = resp.json()
    assert set(body) == {"password"}
    assert isinstance(body["password"], list) and body["password"]
    assert all(isinstance(m, str) and m for m in body["password"])
    expect(login(api, user.username, user.password), 200)
    expect_message(login(api, user.username, ""), 401, INVALID_CREDENTIALS)


def test_change_password_kills_outstanding_reset_links(api):
    user = make_user(api)
    link = request_reset(api, user)
    expect(get_page(api, link_token(link)), 200)
    expect_204(api.put(LOGIN, json={"password": new_password()}, headers=auth(access_token(api, user))))
    resp = get_page(api, link_token(link))
    assert resp.status_code == 422
    assert "Invalid data" in resp.text


def test_change_password_requires_a_token(api):
    expect_message(api.put(LOGIN, json={"password": "x"}), 401, "Missing Authorization Header")


# =========================================================================== PATCH /auth/login


def test_reset_request_for_unknown_user(api):
    name = uniq("ghost")
    expect_message(api.patch(LOGIN, json={"username": name}), 400, f"User {name} does not exist")


def test_reset_request_before_the_password_is_set(api):
    user = make_user(api, password=None)
    before = len(mails_to(api, user.email))
    expect_message(
        api.patch(LOGIN, json={"username": user.username}),
        400,
        f"User {user.username}'s password has not been set",
    )
    assert len(mails_to(api, user.email)) == before


def test_reset_request_queues_the_reset_email(api):
    user = make_user(api, first_name="Grace", last_name="Hopper")
    before = len(mails_to(api, user.email))
    expect_204(api.patch(LOGIN, json={"username": user.username}))  # no auth needed
    rows = mails_to(api, user.email)
    assert len(rows) == before + 1
    row = rows[-1]
    assert row["subject"] == RESET_SUBJECT
    assert row["to_name"] == "Grace Hopper"
    link = mail_link(row)
    assert link in row["text_body"]
    resp = api.get(link_path(api, link))
    assert resp.status_code == 200, resp.text[:500]
    assert "Reset your password" in resp.text


def test_reset_request_link_ignores_the_host_header(api):
    user = make_user(api)
    expect_204(api.patch(LOGIN, json={"username": user.username}, headers={"Host": "evil.example"}))
    link = mail_link(last_mail_to(api, user.email, RESET_SUBJECT))
    assert link.startswith(f"http://{env(api, 'PUBLIC_HOST')}/reset-password?token="), link
    assert "evil.example" not in link


@pytest.mark.parametrize(
    "body, errors",
    [
        ({"username": 5}, {"username": [NOT_STRING]}),
        ({"username": None}, {"username": [NOT_NULL]}),
        ({"user": "x"}, {"username": [MISSING]}),
    ],
    ids=["int", "null", "missing"],
)
def test_reset_request_validation(api, body, errors):
    expect_fields(api.patch(LOGIN, json=body), errors)


# =========================================================================== POST /auth/register


def test_register_creates_a_user_without_password(api):
    before = now()
    body = register_body(first_name="Alan", last_name="Turing")
    expect_204(register(api, body))
    after = now()
    row = user_row(api, body["username"])
    assert row["email"] == body["email"]
    assert row["first_name"] == "Alan"
    assert row["last_name"] == "Turing"
    assert row["password_hash"] is None
    assert int(row["is_admin"]) == 0
    assert before - 1 <= int(row["registration_time"]) <= after + 1
    expect_message(login(api, body["username"], "anything"), 400, "Your password is not set")


def test_register_sends_the_registration_email_with_a_set_password_link(api):
    body = register_body(first_name="Alan", last_name="Turing")
    expect_204(register(api, body))
    rows = mails_to(api, body["email"])
    assert len(rows) == 1
    row = rows[0]
    assert row["subject"] == REGISTRATION_SUBJECT
    assert row["to_name"] == "Alan Turing"
    assert row["to_address"] == body["email"]
    link = mail_link(row)
    assert link in row["text_body"]
    resp = api.get(link_path(api, link))
    assert resp.status_code == 200, resp.text[:500]
    assert "Set your password" in resp.text


@pytest.mark.parametrize("how", ["null", "missing"])
def test_register_without_last_name(api, how):
    body = register_body(first_name="Plato", last_name=None)
    if how == "null":
        body["last_name"] = None
    expect_204(register(api, body))
    assert user_row(api, body["username"])["last_name"] is None
    assert last_mail_to(api, body["email"], REGISTRATION_SUBJECT)["to_name"] == "Plato"


def test_register_admin(api):
    user = make_user(api, admin=True)
    assert int(user_row(api, user.username)["is_admin"]) == 1
    assert expect(whoami(api, access_token(api, user)), 200).json()["is_admin"] is True


def test_register_accepts_values_at_the_length_limits(api):
    username = uniq("L")
    username += "x" * (128 - len(username))
    assert len(username) == 128
    email = f"{uniq('m')}@example.test"
    body = register_body(username=username, email=email, first_name="F" * 64, last_name="L" * 64)
    expect_204(register(api, body))
    row = user_row(api, username)
    assert row["first_name"] == "F" * 64 and row["last_name"] == "L" * 64


def test_register_lower_cases_the_email_domain(api):
    local = "Mixed.Case_" + uuid.uuid4().hex[:10]
    body = register_body(email=f"{local}@Example.ORG")
    expect_204(register(api, body))
    assert user_row(api, body["username"])["email"] == f"{local}@example.org"
    link = mail_link(last_mail_to(api, f"{local}@example.org", REGISTRATION_SUBJECT))
    password = new_password()
    resp = post_page(api, link_token(link), password)
    assert resp.status_code == 200, resp.text[:500]
    access = tokens(api, body["username"], password)["access_token"]
    assert expect(whoami(api, access), 200).json()["email"] == f"{local}@example.org"


def test_register_bad_boolean(api):
    body = register_body()
    body["is_admin"] = "maybe"
    expect_fields(register(api, body), {"is_admin": [NOT_BOOLEAN]})
    assert api.sql("SELECT id FROM users WHERE username = ?", (body["username"],)) == []


def test_register_reports_every_missing_field(api):
    expect_fields(
        register(api, {"last_name": "Only"}),
        {
            "username": [MISSING],
            "email": [MISSING],
            "is_admin": [MISSING],
            "first_name": [MISSING],
        },
    )


def test_register_reports_every_wrong_type(api):
    expect_fields(
        register(
            api,
            {"username": 1, "email": 2, "first_name": 3, "last_name": 4, "is_admin": "maybe"},
        ),
        {
            "username": [NOT_STRING],
            "email": [NOT_STRING],
            "first_name": [NOT_STRING],
            "last_name": [NOT_STRING],
            "is_admin": [NOT_BOOLEAN],
        },
    )


@pytest.mark.parametrize(
    "field, value, limit",
    [
        ("username", "u" * 129, 128),
        ("first_name", "f" * 65, 64),
        ("last_name", "l" * 65, 64),
        ("email", "x" * 60 + "@" + "d" * 55 + ".example.test", 128),
    ],
)
def test_register_too_long(api, field, value, limit):
    body = register_body()
    body[field] = value
    assert len(value) == limit + 1
    expect_fields(register(api, body), {field: [too_long(limit)]})


@pytest.mark.parametrize("field", ["username", "email", "first_name", "is_admin"])
def test_register_null_required_field(api, field):
    body = register_body()
    body[field] = None
    expect_fields(register(api, body), {field: [NOT_NULL]})


@pytest.mark.parametrize(
    "email",
    ["not-an-email", "two@at@example.test", "@example.test", "nobody@", ".dot@example.test"],
)
def test_register_invalid_email(api, email):
    body = register_body(email=email)
    resp = expect(register(api, body), 422)
    errors = resp.json()
    assert list(errors) == ["_schema"], errors
    assert isinstance(errors["_schema"], list) and len(errors["_schema"]) == 1
    assert isinstance(errors["_schema"][0], str) and errors["_schema"][0]
    assert api.sql("SELECT id FROM users WHERE username = ?", (body["username"],)) == []


def test_register_duplicate_username_case_insensitively(api):
    first = register_body(username=uniq("Dup"))
    expect_204(register(api, first))
    for name in (first["username"], first["username"].upper(), first["username"].lower()):
        again = register_body(username=name, email=f"{uniq('other')}@example.test")
        expect_message(register(api, again), 400, f"User {name} already exists")
        assert mails_to(api, again["email"]) == []


def test_register_duplicate_email_case_insensitively(api):
    local = uniq("dupmail")
    first = register_body(email=f"{local}@example.test")
    expect_204(register(api, first))
    for email in (f"{local}@example.test", f"{local.upper()}@example.test"):
        again = register_body(email=email)
        expect_message(register(api, again), 400, f"A user with email {email} already exists")
        assert api.sql("SELECT id FROM users WHERE username = ?", (again["username"],)) == []


def test_register_duplicate_email_with_upper_case_domain(api):
    local = uniq("dupdom")
    expect_204(register(api, register_body(email=f"{local}@example.test")))
    again = register_body(email=f"{local}@EXAMPLE.TEST")
    resp = expect(register(api, again), 400)
    assert set(resp.json()) == {"message"}
    assert resp.json()["message"].startswith("A user with email ")
    assert resp.json()["message"].endswith(" already exists")
    assert api.sql("SELECT id FROM users WHERE username = ?", (again["username"],)) == []


def test_register_validation_comes_before_duplicate_checks(api):
    first = register_body()
    expect_204(register(api, first))
    again = dict(first, is_admin="maybe")
    expect_fields(register(api, again), {"is_admin": [NOT_BOOLEAN]})


def test_register_requires_admin(api):
    user = make_user(api)
    body = register_body()
    expect_message(register(api, body, token=access_token(api, user)), 401, ADMIN_REQUIRED)
    assert api.sql("SELECT id FROM users WHERE username = ?", (body["username"],)) == []
    assert mails_to(api, body["email"]) == []


def test_register_admin_check_comes_before_validation(api):
    user = make_user(api)
    expect_message(
        register(api, {"username": 5}, token=access_token(api, user)), 401, ADMIN_REQUIRED
    )


def test_register_anonymous(api):
    body = register_body()
    expect_message(api.post(REGISTER, json=body), 401, "Missing Authorization Header")
    expect_message(api.post(REGISTER, json={"username": 5}), 401, "Missing Authorization Header")
    expect_message(api.post(REGISTER), 400, NO_INPUT)


def test_register_jwt_check_comes_before_validation(api):
    expect_message(
        api.post(REGISTER, json={"username": 5}, headers={"Authorization": "Token x"}), 422, BAD_HEADER
    )


# =========================================================================== POST /auth/token


def test_refresh_gives_exactly_a_new_access_token(api):
    user = make_user(api)
    login_tokens = tokens(api, user.username, user.password)
    resp = expect(api.post(TOKEN, headers=auth(login_tokens["refresh_token"])), 200)
    body = resp.json()
    assert set(body) == {"access_token"}
    header, claims = decode_jwt(api, body["access_token"])
    assert header == {"typ": "JWT", "alg": "HS256"}
    assert set(claims) == JWT_CLAIMS_ACCESS
    assert claims["type"] == "access"
    assert claims["identity"] == user.username
    assert claims["fresh"] is False
    assert claims["exp"] - claims["iat"] == int_env(api, "JWT_ACCESS_EXPIRY", 900)
    assert claims["jti"] != decode_jwt(api, login_tokens["access_token"])[1]["jti"]
    assert expect(whoami(api, body["access_token"]), 200).json()["username"] == user.username


def test_refresh_token_is_not_rotated(api):
    user = make_user(api)
    refresh = tokens(api, user.username, user.password)["refresh_token"]
    first = expect(api.post(TOKEN, headers=auth(refresh)), 200).json()["access_token"]
    second = expect(api.post(TOKEN, headers=auth(refresh)), 200).json()["access_token"]
    assert decode_jwt(api, first)[1]["jti"] != decode_jwt(api, second)[1]["jti"]
    expect(whoami(api, first), 200)
    expect(whoami(api, second), 200)


def test_refresh_without_token(api):
    expect_message(api.post(TOKEN), 401, "Missing Authorization Header")


# =========================================================================== DELETE /auth/token


def test_logout_revokes_exactly_the_access_token(api):
    user = make_user(api)
    mine = tokens(api, user.username, user.password)
    other = tokens(api, user.username, user.password)
    expect_204(api.delete(TOKEN, headers=auth(mine["access_token"])))

    expect_message(whoami(api, mine["access_token"]), 401, "Token has been revoked")
    expect_message(api.delete(TOKEN, headers=auth(mine["access_token"])), 401, "Token has been revoked")
    # everything else still works
    expect(whoami(api, other["access_token"]), 200)
    fresh = expect(api.post(TOKEN, headers=auth(mine["refresh_token"])), 200).json()["access_token"]
    expect(whoami(api, fresh), 200)


def test_logout_records_the_jti_with_its_expiry(api):
    user = make_user(api)
    access = access_token(api, user)
    claims = decode_jwt(api, access)[1]
    expect_204(api.delete(TOKEN, headers=auth(access)))
    rows = api.sql("SELECT jti, expires_at FROM revoked_tokens WHERE jti = ?", (claims["jti"],))
    assert len(rows) == 1
    assert int(rows[0]["expires_at"]) == claims["exp"]


def test_logout_revokes_exactly_the_refresh_token(api):
    user = make_user(api)
    mine = tokens(api, user.username, user.password)
    other = tokens(api, user.username, user.password)
    expect_204(api.delete(TOKEN, headers=auth(mine["refresh_token"])))

    expect_message(api.post(TOKEN, headers=auth(mine["refresh_token"])), 401, "Token has been revoked")
    expect_message(api.delete(TOKEN, headers=auth(mine["refresh_token"])), 401, "Token has been revoked")
    expect(whoami(api, mine["access_token"]), 200)
    expect(api.post(TOKEN, headers=auth(other["refresh_token"])), 200)


def test_logout_with_both_tokens_like_the_app(api):
    user = make_user(api)
    mine = tokens(api, user.username, user.password)
    expect_204(api.delete(TOKEN, headers=auth(mine["access_token"])))
    expect_204(api.delete(TOKEN, headers=auth(mine["refresh_token"])))
    expect_message(whoami(api, mine["access_token"]), 401, "Token has been revoked")
    expect_message(api.post(TOKEN, headers=auth(mine["refresh_token"])), 401, "Token has been revoked")
    expect(login(api, user.username, user.password), 200)


def test_logout_with_bad_tokens(api):
    user = make_user(api)
    expect_message(api.delete(TOKEN), 401, "Missing Authorization Header")
    expect_message(api.delete(TOKEN, headers=auth("abc")), 422, "Not enough segments")
    expired = forge_jwt(api, standard_claims(user.username, issued=now() - 1000, lifetime=900))
    expect_message(api.delete(TOKEN, headers=auth(expired)), 401, "Token has expired")


# =========================================================================== PATCH /auth/access


def test_access_unknown_user(api):
    name = uniq("ghost")
    expect_message(set_access(api, name, True), 400, f"User '{name}' does not exist")


def test_promotion_applies_to_a_token_issued_before_it(api):
    user = make_user(api)
    access = access_token(api, user)
    expect_message(register(api, register_body(), token=access), 401, ADMIN_REQUIRED)

    expect_204(set_access(api, user.username, True))
    assert int(user_row(api, user.username)["is_admin"]) == 1
    body = register_body()
    expect_204(register(api, body, token=access))
    assert user_row(api, body["username"])["username"] == body["username"]
    assert expect(whoami(api, access), 200).json()["is_admin"] is True


def test_demotion_applies_on_the_next_request(api):
    user = make_user(api, admin=True)
    access = access_token(api, user)
    expect_204(register(api, register_body(), token=access))

    expect_204(set_access(api, user.username, False))
    assert int(user_row(api, user.username)["is_admin"]) == 0
    expect_message(register(api, register_body(), token=access), 401, ADMIN_REQUIRED)
    expect_message(set_access(api, user.username, True, token=access), 401, ADMIN_REQUIRED)
    assert expect(whoami(api, access), 200).json()["is_admin"] is False


def test_access_without_is_admin_changes_nothing(api):
    user = make_user(api, admin=True)
    resp = api.patch(ACCESS, json={"username": user.username}, headers=auth(root_token(api)))
    expect_204(resp)
    assert int(user_row(api, user.username)["is_admin"]) == 1


@pytest.mark.parametrize(
    "body, errors",
    [
        ({"username": "someone", "is_admin": None}, {"is_admin": [NOT_NULL]}),
        ({"username": "someone", "is_admin": "maybe"}, {"is_admin": [NOT_BOOLEAN]}),
        ({"is_admin": True}, {"username": [MISSING]}),
        ({"username": 7, "is_admin": [True]}, {"username": [NOT_STRING], "is_admin": [NOT_BOOLEAN]}),
        ({"username": None}, {"username": [NOT_NULL]}),
    ],
    ids=["null-is_admin", "bad-boolean", "missing-username", "both-wrong", "null-username"],
)
def test_access_validation(api, body, errors):
    # "someone" does not exist: validation (422) comes before existence (400).
    expect_fields(api.patch(ACCESS, json=body, headers=auth(root_token(api))), errors)


def test_access_null_is_admin_leaves_the_flag_alone(api):
    user = make_user(api)
    expect_fields(set_access(api, user.username, None), {"is_admin": [NOT_NULL]})
    assert int(user_row(api, user.username)["is_admin"]) == 0


def test_access_requires_admin(api):
    user = make_user(api)
    access = access_token(api, user)
    expect_message(set_access(api, user.username, True, token=access), 401, ADMIN_REQUIRED)
    assert int(user_row(api, user.username)["is_admin"]) == 0
    # admin check before validation
    expect_message(
        api.patch(ACCESS, json={"username": 5}, headers=auth(access)), 401, ADMIN_REQUIRED
    )


def test_access_anonymous(api):
    user = make_user(api)
    expect_message(
        api.patch(ACCESS, json={"username": user.username, "is_admin": True}),
        401,
        "Missing Authorization Header",
    )
    assert int(user_row(api, user.username)["is_admin"]) == 0


# =========================================================================== section 1 rules


BODY_ENDPOINTS = [("POST", LOGIN), ("PUT", LOGIN), ("PATCH", LOGIN), ("POST", REGISTER), ("PATCH", ACCESS)]

EMPTY_BODIES = {
    "empty-object": ("{}", "application/json"),
    "empty-array": ("[]", "application/json"),
    "null": ("null", "application/json"),
    "false": ("false", "application/json"),
    "zero": ("0", "application/json"),
    "empty-string": ('""', "application/json"),
    "no-body": (None, None),
    "text-plain": ('{"username": "root", "password": "x", "is_admin": true}', "text/plain"),
    "form-encoded": ("username=root&password=x&is_admin=true", "application/x-www-form-urlencoded"),
}


def raw_request(api, method, path, data, content_type, headers=None):
    headers = dict(headers or {})
    if content_type is not None:
        headers["Content-Type"] = content_type
    kw = {"headers": headers}
    if data is not None:
        kw["data"] = data.encode("utf-8")
    return api.request(method, path, **kw)


@pytest.mark.parametrize("method, path", BODY_ENDPOINTS, ids=[f"{m}-{p}" for m, p in BODY_ENDPOINTS])
@pytest.mark.parametrize("body_id", list(EMPTY_BODIES))
def test_body_required_before_authentication(api, method, path, body_id):
    data, content_type = EMPTY_BODIES[body_id]
    expect_message(raw_request(api, method, path, data, content_type), 400, NO_INPUT)


@pytest.mark.parametrize("method, path", BODY_ENDPOINTS, ids=[f"{m}-{p}" for m, p in BODY_ENDPOINTS])
def test_body_required_also_with_a_token(api, method, path):
    token = root_token(api)
    expect_message(raw_request(api, method, path, "{}", "application/json", auth(token)), 400, NO_INPUT)
    expect_message(raw_request(api, method, path, None, None, auth(token)), 400, NO_INPUT)
    # and before the token is even looked at
    bad = {"Authorization": "Token abc"}
    expect_message(raw_request(api, method, path, None, None, bad), 400, NO_INPUT)


@pytest.mark.parametrize("method, path", BODY_ENDPOINTS, ids=[f"{m}-{p}" for m, p in BODY_ENDPOINTS])
def test_malformed_json_is_a_400_with_a_message(api, method, path):
    resp = expect(raw_request(api, method, path, '{"username": ', "application/json"), 400)
    body = resp.json()
    assert set(body) == {"message"}
    assert isinstance(body["message"], str) and body["message"]


@pytest.mark.parametrize(
    "method, path",
    [
        ("DELETE", REGISTER),
        ("GET", REGISTER),
        ("DELETE", LOGIN),
        ("GET", TOKEN),
        ("PUT", TOKEN),
        ("GET", ACCESS),
        ("POST", ACCESS),
    ],
)
def test_wrong_method_on_a_known_path(api, method, path):
    expect_message(api.request(method, path), 405, METHOD_NOT_ALLOWED)


def test_wrong_method_with_leading_double_slash(api):
    expect_message(api.request("DELETE", "/" + REGISTER), 405, METHOD_NOT_ALLOWED)


def test_unknown_api_path(api):
    expect_message(api.get(API + "/auth/nope"), 404, "Not found")


def test_no_content_responses_have_an_empty_body(api):
    user = make_user(api)
    access = access_token(api, user)
    responses = [
        register(api, register_body()),
        api.patch(LOGIN, json={"username": user.username}),
        set_access(api, user.username, False),
        api.put(LOGIN, json={"password": new_password()}, headers=auth(access)),
        api.delete(TOKEN, headers=auth(access)),
    ]
    for resp in responses:
        expect_204(resp)
        assert resp.text == ""
