"""Black-box tests of the password links and the /reset-password page (contract sections 3, 5, 6).

A password link is `/reset-password?token=<payload>.<signature>`; the payload names the user,
the user's password-link counter, the kind ("set" or "reset") and the issue time, so tests can
forge expired or tampered links with FLASK_SECRET.
"""

import re

import pytest

from authhelpers import (
    LOGIN,
    REGISTRATION_SUBJECT,
    RESET_SUBJECT,
    access_token,
    attr,
    auth,
    b64url,
    compact_json,
    env,
    expect,
    expect_204,
    expect_invalid_page,
    expect_message,
    expect_page,
    find_tags,
    forge_password_token,
    get_page,
    int_env,
    last_mail_to,
    link_path,
    link_token,
    login,
    mail_link,
    make_user,
    new_password,
    now,
    post_page,
    register,
    register_body,
    request_reset,
    title_of,
    user_row,
)

SAVED = "Your new password has been saved successfully."
FIRST_PASSWORD = "You may now log in."
USED = "This token has already been used"


def registration_link(api, user):
    return mail_link(last_mail_to(api, user.email, REGISTRATION_SUBJECT))


def no_referrer(resp):
    assert resp.headers.get("Referrer-Policy") == "no-referrer", dict(resp.headers)


def assert_password_form(resp, token, title):
    html = resp.text
    assert title in title_of(html) or re.search(rf"<h1[^>]*>\s*{re.escape(title)}\s*</h1>", html), html
    forms = find_tags(html, "form")
    assert len(forms) == 1, forms
    assert (attr(forms[0], "method") or "").lower() == "post"
    action = attr(forms[0], "action")
    # posts back to the same URL
    assert action in (None, "") or "/reset-password" in action, action
    inputs = find_tags(html, "input")
    hidden = [t for t in inputs if attr(t, "name") == "token"]
    assert len(hidden) == 1, inputs
    assert (attr(hidden[0], "type") or "").lower() == "hidden"
    assert attr(hidden[0], "value") == token
    password = [t for t in inputs if attr(t, "name") == "password"]
    assert len(password) == 1, inputs
    assert (attr(password[0], "type") or "").lower() == "password"
    assert re.search(r"<button\b[^>]*>\s*Save\s*</button>", html) or re.search(
        r"<input\b[^>]*type=\"submit\"[^>]*value=\"Save\"", html
    ), html


def assert_self_contained(api, html):
    # no CDN: nothing is loaded from another host
    for url in re.findall(r"""(?:src|href)\s*=\s*["'](https?:)?//([^/"']+)""", html, re.I):
        assert url[1] == env(api, "PUBLIC_HOST"), url


# =========================================================================== missing / bad tokens


def test_page_without_token(api):
    resp = get_page(api)
    expect_invalid_page(resp, "No token provided")
    no_referrer(resp)


def test_page_with_empty_token(api):
    expect_invalid_page(api.get("/reset-password?token="), "No token provided")


def test_post_without_token(api):
    resp = post_page(api, password="something")
    expect_invalid_page(resp, "No token provided")
    no_referrer(resp)


@pytest.mark.parametrize(
    "token",
    [
        "abc",
        "a.b",
        "...",
        "not-base64!!.also-not",
        "<script>alert(1)</script>",
        '"><script>alert(1)</script>.x',
    ],
    ids=["abc", "two-parts", "dots", "not-base64", "script", "attribute-break"],
)
def test_malformed_tokens(api, token):
    resp = get_page(api, token)
    expect_invalid_page(resp)
    no_referrer(resp)
    assert "<script>" not in resp.text.lower()
    resp = post_page(api, token, "a-password")
    expect_invalid_page(resp)
    assert "<script>" not in resp.text.lower()


def test_tampered_signature(api):
    user = make_user(api, password=None)
    token = link_token(registration_link(api, user))
    payload, sig = token.split(".")
    i = len(sig) // 2
    bad = f"{payload}.{sig[:i]}{'A' if sig[i] != 'A' else 'B'}{sig[i + 1:]}"
    expect_invalid_page(get_page(api, bad))
    expect_invalid_page(post_page(api, bad, new_password()))
    expect_message(login(api, user.username, "x"), 400, "Your password is not set")
    # the genuine link still works
    expect_page(get_page(api, token), 200, "Set your password")


def test_tampered_payload(api):
    victim = make_user(api, password=None)
    attacker = make_user(api, password=None)
    token = link_token(registration_link(api, attacker))
    _, sig = token.split(".")
    row = user_row(api, victim.username)
    payload = b64url(
        compact_json({"u": row["id"], "c": row["password_link_counter"], "k": "set", "t": now()})
    )
    forged = f"{payload}.{sig}"
    expect_invalid_page(get_page(api, forged))
    expect_invalid_page(post_page(api, forged, new_password()))
    assert user_row(api, victim.username)["password_hash"] is None


def test_link_signed_with_another_secret(api):
    user = make_user(api, password=None)
    row = user_row(api, user.username)
    token = forge_password_token(
        api, row["id"], row["password_link_counter"], "set", now(), secret="not-the-secret"
    )
    expect_invalid_page(get_page(api, token))


def test_link_signed_for_another_purpose(api):
    # A token made for the resolve page never works as a password link.
    user = make_user(api, password=None)
    row = user_row(api, user.username)
    token = forge_password_token(
        api, row["id"], row["password_link_counter"], "set", now(), purpose="resolve"
    )
    expect_invalid_page(get_page(api, token))


def test_link_for_a_user_that_does_not_exist(api):
    token = forge_password_token(api, 2_000_000_000, 0, "reset", now())
    expect_invalid_page(get_page(api, token))
    expect_invalid_page(post_page(api, token, new_password()))


# =========================================================================== forged, correctly signed links


def test_forged_link_with_the_current_counter_works(api):
    # Positive control for the expiry tests: the link format is as documented.
    user = make_user(api)
    row = user_row(api, user.username)
    token = forge_password_token(api, row["id"], row["password_link_counter"], "reset", now() - 60)
    resp = expect_page(get_page(api, token), 200)
    assert_password_form(resp, token, "Reset your password")


def test_expired_reset_link(api):
    user = make_user(api)
    row = user_row(api, user.username)
    window = int_env(api, "PW_RESET_WINDOW", 3600)
    token = forge_password_token(
        api, row["id"], row["password_link_counter"], "reset", now() - window - 60
    )
    expect_invalid_page(get_page(api, token))
    expect_invalid_page(post_page(api, token, new_password()))
    expect(login(api, user.username, user.password), 200)


def test_set_link_has_its_own_longer_window(api):
    user = make_user(api, password=None)
    row = user_row(api, user.username)
    reset_window = int_env(api, "PW_RESET_WINDOW", 3600)
    setup_window = int_env(api, "PW_SETUP_WINDOW", 604800)
    assert setup_window > reset_window + 600

    older_than_reset_window = forge_password_token(
        api, row["id"], row["password_link_counter"], "set", now() - reset_window - 600
    )
    resp = expect_page(get_page(api, older_than_reset_window), 200)
    assert_password_form(resp, older_than_reset_window, "Set your password")

    expired = forge_password_token(
        api, row["id"], row["password_link_counter"], "set", now() - setup_window - 60
    )
    expect_invalid_page(get_page(api, expired))
    expect_invalid_page(post_page(api, expired, new_password()))
    expect_message(login(api, user.username, "x"), 400, "Your password is not set")


def test_reset_kind_link_does_not_get_the_setup_window(api):
    user = make_user(api, password=None)
    row = user_row(api, user.username)
    window = int_env(api, "PW_RESET_WINDOW", 3600)
    token = forge_password_token(
        api, row["id"], row["password_link_counter"], "reset", now() - window - 600
    )
    expect_invalid_page(get_page(api, token))


def test_link_with_an_old_counter(api):
    user = make_user(api)
    row = user_row(api, user.username)
    token = forge_password_token(api, row["id"], row["password_link_counter"] - 1, "reset", now())
    expect_invalid_page(get_page(api, token))


# =========================================================================== set-password flow


def test_set_password_page(api):
    user = make_user(api, password=None)
    link = registration_link(api, user)
    token = link_token(link)
    resp = expect_page(api.get(link_path(api, link)), 200, "Set your password")
    no_referrer(resp)
    assert_password_form(resp, token, "Set your password")
    assert "Reset your password" not in resp.text
    assert_self_contained(api, resp.text)


def test_set_password_flow(api):
    user = make_user(api, password=None)
    token = link_token(registration_link(api, user))

    # missing / empty password: 422, and the link stays usable
    resp = post_page(api, token)
    assert resp.status_code == 422, resp.text[:800]
    no_referrer(resp)
    expect_page(get_page(api, token), 200, "Set your password")
    resp = post_page(api, token, "")
    assert resp.status_code == 422, resp.text[:800]
    expect_page(get_page(api, token), 200, "Set your password")
    expect_message(login(api, user.username, "x"), 400, "Your password is not set")

    password = new_password()
    resp = expect_page(post_page(api, token, password), 200, "Password saved", SAVED, FIRST_PASSWORD)
    no_referrer(resp)
    assert "<script>" not in resp.text.lower()

    body = expect(login(api, user.username, password), 200).json()
    assert set(body) == {"access_token", "refresh_token"}

    # the link is used up
    resp = get_page(api, token)
    expect_invalid_page(resp, USED)
    no_referrer(resp)
    expect_invalid_page(post_page(api, token, new_password()), USED)
    expect(login(api, user.username, password), 200)


def test_set_password_through_the_link_url_itself(api):
    # The form posts back to the same URL (the query string carries the token too).
    user = make_user(api, password=None)
    link = registration_link(api, user)
    password = new_password()
    resp = api.post(link_path(api, link), data={"token": link_token(link), "password": password})
    expect_page(resp, 200, "Password saved", SAVED, FIRST_PASSWORD)
    expect(login(api, user.username, password), 200)


def test_registration_link_is_built_on_public_host(api):
    body = register_body()
    resp = register(api, body, headers={"Host": "evil.example"})
    expect_204(resp)
    link = mail_link(last_mail_to(api, body["email"], REGISTRATION_SUBJECT))
    assert link.startswith(f"http://{env(api, 'PUBLIC_HOST')}/reset-password?token="), link
    assert "evil.example" not in link
    row = last_mail_to(api, body["email"], REGISTRATION_SUBJECT)
    assert "evil.example" not in row["html_body"] and "evil.example" not in row["text_body"]


# =========================================================================== reset flow


def test_reset_flow(api):
    user = make_user(api)
    link = request_reset(api, user)
    token = link_token(link)

    resp = expect_page(api.get(link_path(api, link)), 200, "Reset your password")
    no_referrer(resp)
    assert_password_form(resp, token, "Reset your password")
    assert "Set your password" not in resp.text

    password = new_password()
    resp = expect_page(post_page(api, token, password), 200, "Password saved", SAVED)
    assert FIRST_PASSWORD not in resp.text
    no_referrer(resp)

    expect_message(login(api, user.username, user.password), 401, "Invalid credentials")
    expect(login(api, user.username, password), 200)
    expect_invalid_page(get_page(api, token), USED)


def test_reset_missing_password_keeps_the_link(api):
    user = make_user(api)
    token = link_token(request_reset(api, user))
    resp = post_page(api, token)
    assert resp.status_code == 422, resp.text[:800]
    resp = post_page(api, token, "")
    assert resp.status_code == 422, resp.text[:800]
    expect(login(api, user.username, user.password), 200)
    expect_page(get_page(api, token), 200, "Reset your password")
    password = new_password()
    expect_page(post_page(api, token, password), 200, "Password saved")
    expect(login(api, user.username, password), 200)


def test_newer_reset_link_supersedes_the_older(api):
    user = make_user(api)
    first = link_token(request_reset(api, user))
    second = link_token(request_reset(api, user))
    assert first != second

    expect_invalid_page(get_page(api, first))
    expect_invalid_page(post_page(api, first, new_password()))
    expect(login(api, user.username, user.password), 200)

    expect_page(get_page(api, second), 200, "Reset your password")
    password = new_password()
    expect_page(post_page(api, second, password), 200, "Password saved")
    expect(login(api, user.username, password), 200)


def test_using_a_link_kills_the_registration_link(api):
    user = make_user(api, password=None)
    registration = link_token(registration_link(api, user))
    password = new_password()
    expect_page(post_page(api, registration, password), 200, "Password saved")
    user.password = password
    reset = link_token(request_reset(api, user))
    expect_invalid_page(get_page(api, registration))
    expect_page(get_page(api, reset), 200, "Reset your password")


def test_link_issued_before_a_password_change_dies(api):
    user = make_user(api)
    token = link_token(request_reset(api, user))
    changed = new_password()
    expect_204(api.put(LOGIN, json={"password": changed}, headers=auth(access_token(api, user))))
    expect_invalid_page(get_page(api, token))
    expect_invalid_page(post_page(api, token, new_password()))
    expect(login(api, user.username, changed), 200)


def test_reset_email_link_ignores_the_host_header(api):
    user = make_user(api)
    expect_204(api.patch(LOGIN, json={"username": user.username}, headers={"Host": "evil.example"}))
    link = mail_link(last_mail_to(api, user.email, RESET_SUBJECT))
    assert link.startswith(f"http://{env(api, 'PUBLIC_HOST')}/reset-password?token="), link
    expect_page(api.get(link_path(api, link)), 200, "Reset your password")


def test_password_page_is_not_under_the_api_prefix(api):
    # Pages sit at the root; under /api/v1 the path is an unknown API path.
    expect_message(api.get("/api/v1/reset-password"), 404, "Not found")
