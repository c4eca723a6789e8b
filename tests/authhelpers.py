"""Shared helpers for the black-box tests (contract sections 1, 2, 3, 5 and 8; the form
tests add theirs in formhelpers.py): the one copy of each, for every test file.

Everything here talks to the server only through HTTP (the `api` fixture, or any client with
the same `post`/`get`, e.g. test_flask_import.py's Target) and, where a test needs a fact the
API does not expose (a user's id or password-link counter, the outbox), through `api.sql` /
`api.outbox`.
"""

import base64
import hashlib
import hmac
import json
import re
import time
import uuid
import warnings
from dataclasses import dataclass
from typing import Optional
from urllib.parse import parse_qs, urlsplit

import jwt  # PyJWT, used as an independent "standard JWT" decoder

from conftest import first_link

API = "/api/v1"
LOGIN = API + "/auth/login"
REGISTER = API + "/auth/register"
TOKEN = API + "/auth/token"
ACCESS = API + "/auth/access"
RESET_PAGE = "/reset-password"

NO_INPUT = "No input data provided"
ADMIN_REQUIRED = "This endpoint requires admin status"
METHOD_NOT_ALLOWED = "The method is not allowed for the requested URL."
MISSING = "Missing data for required field."
NOT_STRING = "Not a valid string."
NOT_BOOLEAN = "Not a valid boolean."
NOT_NULL = "Field may not be null."

REGISTRATION_SUBJECT = "BriefThreat registration"
RESET_SUBJECT = "BriefThreat password reset"

JWT_CLAIMS_ACCESS = {"iat", "nbf", "exp", "jti", "identity", "type", "fresh"}
JWT_CLAIMS_REFRESH = {"iat", "nbf", "exp", "jti", "identity", "type"}


# --------------------------------------------------------------------------- config


def env(api, key, default=None):
    value = api.env.get(key, default)
    assert value is not None, f"the server config has no {key}"
    return value


def jwt_secret(api):
    return env(api, "JWT_SECRET", "test-jwt-secret")


def flask_secret(api):
    return env(api, "FLASK_SECRET", "test-flask-secret")


def int_env(api, key, default):
    return int(env(api, key, default))


def public_host(api):
    return env(api, "PUBLIC_HOST")


def root_password(api):
    return env(api, "ROOT_PASSWORD", "root-test-password")


# --------------------------------------------------------------------------- basics


def uniq(prefix="u"):
    """A fresh username-like name; the database is shared by every test of a session."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def new_password():
    return "pw-" + uuid.uuid4().hex


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def now():
    return int(time.time())


def expect(resp, status, body=None):
    """Exact status and, if given, exact JSON body; JSON content type on every API answer."""
    assert resp.status_code == status, (
        f"{resp.request.method} {resp.request.url}: expected {status}, "
        f"got {resp.status_code}: {resp.text[:500]!r}"
    )
    if body is not None:
        ctype = resp.headers.get("Content-Type", "")
        assert ctype.startswith("application/json"), f"Content-Type {ctype!r}: {resp.text[:300]!r}"
        assert resp.json() == body, f"body {resp.text[:500]!r} != {body!r}"
    return resp


def expect_message(resp, status, message):
    return expect(resp, status, {"message": message})


def expect_204(resp):
    expect(resp, 204)
    assert resp.content == b"", f"204 with a body: {resp.content[:300]!r}"
    return resp


def expect_fields(resp, errors):
    """422 with exactly this field -> messages map."""
    return expect(resp, 422, errors)


def too_long(n):
    return f"Longer than maximum length {n}."


# --------------------------------------------------------------------------- JWT


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def compact_json(value) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def forge_jwt(api, claims, alg="HS256", secret=None, header=None):
    """Build and sign a JWT by hand (no dependency on PyJWT's key-length policy).

    alg "none" gives an unsigned token ("<header>.<payload>.").
    """
    secret = jwt_secret(api) if secret is None else secret
    head = header if header is not None else {"alg": alg, "typ": "JWT"}
    signing_input = b64url(compact_json(head)) + "." + b64url(compact_json(claims))
    if alg == "none":
        return signing_input + "."
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    sig = hmac.new(secret.encode("utf-8"), signing_input.encode("ascii"), digest).digest()
    return signing_input + "." + b64url(sig)


DROP = object()  # standard_claims(..., claim=DROP) leaves the claim out


def standard_claims(identity, kind="access", lifetime=900, issued=None, **overrides):
    """Claims shaped like the server's own; `overrides` may set a claim to DROP to remove it."""
    issued = now() if issued is None else issued
    claims = {
        "iat": issued,
        "nbf": issued,
        "exp": issued + lifetime,
        "jti": str(uuid.uuid4()),
        "identity": identity,
        "type": kind,
    }
    if kind == "access":
        claims["fresh"] = False
    for key, value in overrides.items():
        if value is DROP:
            claims.pop(key, None)
        else:
            claims[key] = value
    return claims


def jwt_parts(token):
    parts = token.split(".")
    assert len(parts) == 3, f"not a compact JWS: {token!r}"
    return parts


def decode_jwt(api, token):
    """Verify an HS256 token with JWT_SECRET by hand and with PyJWT; returns (header, claims)."""
    head_b64, payload_b64, sig_b64 = jwt_parts(token)
    expected = hmac.new(
        jwt_secret(api).encode("utf-8"),
        f"{head_b64}.{payload_b64}".encode("ascii"),
        hashlib.sha256,
    ).digest()
    assert hmac.compare_digest(b64url_decode(sig_b64), expected), "bad HS256 signature"
    header = json.loads(b64url_decode(head_b64))
    claims = json.loads(b64url_decode(payload_b64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short test secret: PyJWT warns about key length
        via_pyjwt = jwt.decode(
            token,
            jwt_secret(api),
            algorithms=["HS256"],
            options={"verify_aud": False},
        )
    assert via_pyjwt == claims
    return header, claims


def tamper_signature(token):
    """Change one character in the middle of the signature (never only its padding bits)."""
    head, payload, sig = jwt_parts(token)
    i = len(sig) // 2
    replacement = "A" if sig[i] != "A" else "B"
    return f"{head}.{payload}.{sig[:i]}{replacement}{sig[i + 1:]}"


# --------------------------------------------------------------------------- users


@dataclass
class User:
    username: str
    email: str
    first_name: str
    last_name: Optional[str]
    password: Optional[str]
    is_admin: bool
    token: Optional[str] = None  # make_user(..., log_in=True)
    refresh: Optional[str] = None

    @property
    def full_name(self):
        return f"{self.first_name} {self.last_name}" if self.last_name else self.first_name

    @property
    def headers(self):
        return auth(self.token)


_root_cache = {}


def root_token(api):
    """An access token of the built-in `root` admin (cached for a few minutes per server)."""
    cached = _root_cache.get(api.base)
    if cached and now() - cached[1] < 300:
        return cached[0]
    resp = login(api, "root", root_password(api))
    expect(resp, 200)
    token = resp.json()["access_token"]
    _root_cache[api.base] = (token, now())
    return token


def login(api, username, password, path=LOGIN, **kw):
    """POST /auth/login (or `path`); the response, whatever it is."""
    return api.post(path, json={"username": username, "password": password}, **kw)


def whoami(api, token):
    """GET /auth/login with `token`; the response, whatever it is."""
    return api.get(LOGIN, headers=auth(token))


def tokens(api, username, password):
    resp = expect(login(api, username, password), 200)
    return resp.json()


def access_token(api, user):
    return tokens(api, user.username, user.password)["access_token"]


def register_body(username=None, email=None, first_name="Test", last_name="User", is_admin=False):
    username = username or uniq()
    body = {
        "username": username,
        "email": email or f"{username.lower()}@example.test",
        "first_name": first_name,
        "is_admin": is_admin,
    }
    if last_name is not None:
        body["last_name"] = last_name
    return body


def register(api, body, token=None, **kw):
    token = root_token(api) if token is None else token
    return api.post(REGISTER, json=body, headers={**auth(token), **kw.pop("headers", {})}, **kw)


def mails_to(api, address):
    return [row for row in api.outbox() if row["to_address"].lower() == address.lower()]


def outbox_max_id(api):
    rows = api.sql("SELECT MAX(id) AS m FROM email_outbox")
    value = rows[0]["m"] if rows else None
    return int(value) if value is not None else 0


def mails_since(api, since, to=None, subject=None):
    """Outbox rows with id > since, optionally for one recipient and/or subject."""
    rows = [r for r in api.outbox() if int(r["id"]) > since]
    if to is not None:
        rows = [r for r in rows if r["to_address"].lower() == to.lower()]
    if subject is not None:
        rows = [r for r in rows if r["subject"] == subject]
    return rows


def last_mail_to(api, address, subject=None):
    rows = [r for r in mails_to(api, address) if subject is None or r["subject"] == subject]
    assert rows, f"no e-mail to {address} (subject {subject!r}) in the outbox"
    return rows[-1]


def mail_link(row):
    link = first_link(row["html_body"])
    assert link, f"no link in the e-mail {row['subject']!r}"
    return link.replace("&amp;", "&")


def link_token(link):
    query = parse_qs(urlsplit(link).query)
    assert list(query) == ["token"], f"unexpected link {link!r}"
    return query["token"][0]


def link_path(api, link, page=RESET_PAGE):
    """The path+query of an e-mailed link, checked to point at `page` (the password page
    unless said otherwise) on this server's PUBLIC_HOST."""
    prefix = f"http://{public_host(api)}{page}?token="
    assert link.startswith(prefix), f"{link!r} does not start with {prefix!r}"
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def password_link_of(api, email, subject):
    return mail_link(last_mail_to(api, email, subject))


def get_page(api, token=None, **kw):
    params = {} if token is None else {"token": token}
    return api.get(RESET_PAGE, params=params, **kw)


def post_page(api, token=None, password=None, **kw):
    data = {}
    if token is not None:
        data["token"] = token
    if password is not None:
        data["password"] = password
    return api.post(RESET_PAGE, data=data, **kw)


AUTO = object()


def make_user(api, admin=False, password=AUTO, first_name=None, last_name="User", log_in=False):
    """Register a user as root (a fresh first name unless `first_name`; no last name if
    `last_name` is None). Unless `password` is None, set it (AUTO: a fresh one) through the
    link of the one registration e-mail; with `log_in`, log in as the user and keep the
    tokens (`user.token`, `user.refresh`, `user.headers`)."""
    first_name = first_name or ("F" + uuid.uuid4().hex[:8])
    body = register_body(first_name=first_name, last_name=last_name, is_admin=admin)
    since = outbox_max_id(api)
    expect_204(register(api, body))
    user = User(body["username"], body["email"], first_name, last_name, None, admin)
    if password is None:
        return user
    rows = mails_since(api, since, to=user.email)
    assert len(rows) == 1 and rows[0]["subject"] == REGISTRATION_SUBJECT, (
        f"expected one registration e-mail to {user.email}, got {rows!r}"
    )
    link = mail_link(rows[0])
    password = new_password() if password is AUTO else password
    page = link_path(api, link).split("?")[0]  # this server's password page
    resp = api.post(page, data={"token": link_token(link), "password": password})
    assert resp.status_code == 200, f"setting the first password failed: {resp.status_code} {resp.text[:500]!r}"
    user.password = password
    if log_in:
        issued = tokens(api, user.username, password)
        user.token, user.refresh = issued["access_token"], issued["refresh_token"]
    return user


def set_access(api, username, is_admin, token=None):
    """PATCH /auth/access as root (or with `token`); the response, whatever it is."""
    token = root_token(api) if token is None else token
    return api.patch(ACCESS, json={"username": username, "is_admin": is_admin}, headers=auth(token))


def set_admin(api, user, is_admin):
    """Make `user` an admin or not, as root (204 expected), and record it on `user`."""
    expect_204(set_access(api, user.username, is_admin))
    user.is_admin = is_admin


def request_reset(api, user, **kw):
    """PATCH /auth/login and return the new reset link."""
    expect_204(api.patch(LOGIN, json={"username": user.username}, **kw))
    return password_link_of(api, user.email, RESET_SUBJECT)


def user_row(api, username):
    rows = api.sql(
        "SELECT id, username, email, first_name, last_name, password_hash, is_admin, "
        "registration_time, password_link_counter FROM users WHERE username = ?",
        (username,),
    )
    assert len(rows) == 1, f"{len(rows)} rows for user {username!r}"
    return rows[0]


def forge_password_token(api, user_id, counter, kind, issued, secret=None, purpose="password"):
    payload = b64url(compact_json({"u": user_id, "c": counter, "k": kind, "t": issued}))
    key = (flask_secret(api) if secret is None else secret).encode("utf-8")
    sig = hmac.new(key, f"{purpose}.{payload}".encode("utf-8"), hashlib.sha256).digest()
    return f"{payload}.{b64url(sig)}"


# --------------------------------------------------------------------------- HTML pages


def is_html(resp):
    return resp.headers.get("Content-Type", "").startswith("text/html")


def expect_page(resp, status, *texts):
    """Exact status, an HTML page, and each of `texts` in it."""
    assert resp.status_code == status, (
        f"{resp.request.method} {resp.request.url}: expected {status}, "
        f"got {resp.status_code}: {resp.text[:800]!r}"
    )
    assert is_html(resp), f"Content-Type {resp.headers.get('Content-Type')!r}: {resp.text[:300]!r}"
    for text in texts:
        assert text in resp.text, f"{text!r} not in page: {resp.text[:2000]!r}"
    return resp


def expect_invalid_page(resp, *reasons):
    return expect_page(resp, 422, "Invalid data", *reasons)


def title_of(html):
    m = re.search(r"<title>(.*?)</title>", html, re.S | re.I)
    return m.group(1).strip() if m else ""


def find_tags(html, tag):
    return re.findall(rf"<{tag}\b[^>]*>", html, re.I)


def attr(tag_html, name):
    m = re.search(rf'\b{name}\s*=\s*"([^"]*)"', tag_html, re.I)
    if m is None:
        m = re.search(rf"\b{name}\s*=\s*'([^']*)'", tag_html, re.I)
    return m.group(1) if m else None
