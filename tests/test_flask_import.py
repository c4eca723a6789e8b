"""Moving a Flask deployment over (issue 15): `migrate --import-flask <old database>`.

The test builds the Flask service's database on the harness's MariaDB, with its exact
schema (SQLAlchemy's `create_all`: utf8mb4, naive UTC DATETIMEs), and fills it with a
realistic data set: 211 users (5 admins, NULL passwords, non-ASCII names, gaps in the ids),
5,000 forms (gaps in the ids, 99999999999999.99 and negative amounts, resolved and
unresolved), revoked tokens (a `jti` listed twice). Password hashes and links come from the
libraries the old service used (passlib, itsdangerous 1.1: tests/flask_legacy.py), JWTs
from PyJWT as flask-jwt-extended 3.18 made them. Then, for each target (the embedded
SQLite, a MariaDB database), the import into a new, empty database and, through the HTTP
API: every old password logs in (stored argon2id afterwards), a wrong one does not, old
refresh and access tokens work, an imported revoked token is refused, every form reads back
identical for its owner and for an admin, an old resolve link resolves and e-mails the
submitter, an old password link sets a password; a second import changes nothing. Also: a
non-empty target is refused without --allow-non-empty, and two old users that collide
ignoring case are reported, nothing copied.
"""

from __future__ import annotations

import calendar
import json
import os
import random
import re
import secrets
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import jwt
import pytest
import requests

from authhelpers import LOGIN, TOKEN, auth, login
from conftest import (
    MIGRATE,
    ROOT,
    SHIELDED_KEYS,
    _mysql_connect,
    create_mysql_database,
    drop_mysql_database,
    run_sql,
    start_stack,
    stop_server,
)

LEGACY_SITE = ROOT / ".venv" / "flask-legacy"  # itsdangerous 1.1.0 (Makefile: venv)
FLASK_SECRET = "old-flask-secret-" + "x" * 24
JWT_SECRET = "old-jwt-secret-" + "y" * 24
N_USERS = 211
N_FORMS = 5000
FORM = "/api/v1/form"

OLD_SCHEMA = [
    # users: COLLATE as the test needs (the collision case uses a binary one)
    """CREATE TABLE users (
        id INTEGER NOT NULL AUTO_INCREMENT,
        username VARCHAR(128) NOT NULL,
        email VARCHAR(128) NOT NULL,
        first_name VARCHAR(64) NOT NULL,
        last_name VARCHAR(64),
        password VARCHAR(128),
        registration_time DATETIME NOT NULL,
        is_admin BOOL NOT NULL,
        current_pw_token INTEGER NOT NULL,
        PRIMARY KEY (id),
        UNIQUE (username),
        UNIQUE (email),
        CHECK (is_admin IN (0, 1))
    ) DEFAULT CHARSET=utf8mb4 {collate}""",
    """CREATE TABLE revoked_tokens (
        id INTEGER NOT NULL AUTO_INCREMENT,
        username VARCHAR(128) NOT NULL,
        jti VARCHAR(64) NOT NULL,
        expiry DATETIME NOT NULL,
        PRIMARY KEY (id),
        FOREIGN KEY(username) REFERENCES users (username)
    ) DEFAULT CHARSET=utf8mb4 {collate}""",
    """CREATE TABLE forms (
        id INTEGER NOT NULL AUTO_INCREMENT,
        submitter INTEGER NOT NULL,
        time DATETIME NOT NULL,
        customer_name VARCHAR(128),
        course VARCHAR(256),
        payment_method ENUM('cash','cheque'),
        amount NUMERIC(16, 2),
        receipt VARCHAR(128),
        resolved_at DATETIME,
        PRIMARY KEY (id),
        FOREIGN KEY(submitter) REFERENCES users (id)
    ) DEFAULT CHARSET=utf8mb4 {collate}""",
]

FIRST_NAMES = ["Zoë", "Jürgen", "Ana", "Søren", "Łukasz", "Chloé", "Björk", "李", "Ærwyn", "Noël", "Mia", "José"]
LAST_NAMES = ["Müller", "Ørsted", "O'Brien", "Ñúñez", "王", "Dvořák", None, "Smith", None, "Ğürsel"]
COURSES = ["Fahrradkurs für Anfänger", "Yoga", "Cours de cuisine à Nîmes", "日本語 A1", "Swim 🏊", "Pottery"]


def utc(dt: datetime) -> int:
    return calendar.timegm(dt.timetuple())


def mysql_exec(url: str, statements, many=None):
    conn = _mysql_connect(url)
    try:
        with conn.cursor() as cur:
            for s in statements:
                cur.execute(s)
            for query, rows in many or []:
                cur.executemany(query, rows)
        conn.commit()
    finally:
        conn.close()


def old_service(spec: dict) -> dict:
    """tests/flask_legacy.py under itsdangerous 1.1.0 and passlib: the old service's crypto."""
    assert (LEGACY_SITE / "itsdangerous").is_dir(), f"{LEGACY_SITE} missing: run `make venv`"
    env = dict(os.environ, PYTHONPATH=str(LEGACY_SITE))
    out = subprocess.run([sys.executable, str(ROOT / "tests" / "flask_legacy.py")], input=json.dumps(spec),
                         env=env, capture_output=True, text=True, check=True, timeout=300)
    return json.loads(out.stdout)


def old_jwt(username: str, kind: str, now: int, lifetime: int = 86400) -> tuple[str, str]:
    """A token as flask-jwt-extended 3.18 issued it (PyJWT, HS256, JWT_SECRET)."""
    jti = str(uuid.uuid4())
    claims = {"iat": now, "nbf": now, "jti": jti, "exp": now + lifetime, "identity": username, "type": kind}
    if kind == "access":
        claims["fresh"] = True
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256"), jti


class OldDeployment:
    """The data set, as written to the old database and as the API must show it."""

    def __init__(self):
        rng = random.Random(15)
        now = int(time.time())
        self.users: list[dict] = []
        user_id = 0
        for n in range(N_USERS):
            user_id += 1 if n % 17 else 2  # gaps: users deleted in the old service
            first = FIRST_NAMES[n % len(FIRST_NAMES)]
            if n == 0:
                username, email, first, admin = "root", "ops@old.example.test", "Administrator", True
            else:
                username = f"{first.lower()}.{'Ü' if n % 5 == 0 else 'u'}{n}"
                email = f"{first.lower()}.{n}@exämple.test" if n % 7 == 0 else f"User{n}@Example.test"
                admin = n in (1, 2, 3, 4)
            self.users.append({
                "id": user_id, "username": username, "email": email, "first_name": first,
                "last_name": LAST_NAMES[n % len(LAST_NAMES)],
                # NULL until the user sets one: every 13th never did
                "plain": None if n % 13 == 12 else f"pw-{n}-{secrets.token_hex(4)}-ß",
                "registration_time": datetime(2018, 1, 1) + timedelta(seconds=rng.randrange(180_000_000)),
                "is_admin": admin, "current_pw_token": rng.randrange(0, 6),
            })
        self.by_name = {u["username"]: u for u in self.users}
        self.root = self.users[0]
        self.admins = [u for u in self.users if u["is_admin"]]
        self.forms: list[dict] = []
        form_id = 0
        specials = [Decimal("99999999999999.99"), Decimal("-99999999999999.99"), Decimal("-12.34"),
                    Decimal("0.00"), Decimal("-0.05"), Decimal("0.01")]
        for n in range(N_FORMS):
            form_id += 1 if n % 97 else 3
            owner = self.users[rng.randrange(len(self.users))]
            amount = specials[n // 500] if n % 500 == 0 and n // 500 < len(specials) else \
                Decimal(rng.randrange(-50_000, 5_000_000)) / 100
            at = datetime(2019, 1, 1) + timedelta(seconds=rng.randrange(160_000_000))
            resolved = at + timedelta(seconds=rng.randrange(1, 9_000_000)) if n % 3 == 0 else None
            self.forms.append({
                "id": form_id, "submitter_id": owner["id"], "submitter": owner["username"], "time": at,
                "customer_name": f"{rng.choice(FIRST_NAMES)} {rng.choice([x for x in LAST_NAMES if x])}",
                "course": rng.choice(COURSES), "payment_method": rng.choice(["cash", "cheque"]),
                "amount": amount, "receipt": f"R-{n:05d}-ä", "resolved_at": resolved,
            })
        # Tokens the app holds: a refresh and an access token per user (issued an hour ago).
        issued = now - 3600
        for u in self.users:
            u["refresh"], u["refresh_jti"] = old_jwt(u["username"], "refresh", issued)
            u["access"], _ = old_jwt(u["username"], "access", issued, lifetime=7200)
        # Logged out in the old service: revoked (one jti recorded twice, as the old
        # table allowed), plus revoked tokens of the past.
        self.revoked = [self.users[10], self.users[11]]
        self.revoked_rows = [(u["username"], u["refresh_jti"], datetime.utcfromtimestamp(issued + 86400))
                             for u in self.revoked]
        self.revoked_rows.append((self.users[10]["username"], self.users[10]["refresh_jti"],
                                  datetime.utcfromtimestamp(issued + 80000)))
        for n in range(40):
            u = self.users[20 + n]
            self.revoked_rows.append((u["username"], str(uuid.uuid4()),
                                      datetime.utcfromtimestamp(now - 86400 * (n - 20))))
        self.distinct_jtis = len({r[1] for r in self.revoked_rows})

        # The old service's hashes and links.
        unresolved = [f for f in self.forms if f["resolved_at"] is None]
        self.resolve_cases = {  # form -> the admin it was e-mailed to
            "sqlite": (unresolved[0], self.admins[1]), "mariadb": (unresolved[1], self.admins[2]),
        }
        self.resolved_form = next(f for f in self.forms if f["resolved_at"] is not None)
        self.non_admin = self.users[30]
        with_pw = [u for u in self.users if u["plain"]]
        self.reset_users = {"sqlite": with_pw[40], "mariadb": with_pw[41]}
        self.never_set = next(u for u in self.users if u["plain"] is None)
        spec = {
            "flask_secret": FLASK_SECRET,
            "passwords": [u["plain"] for u in with_pw],
            "resolve": [[a["username"], f["id"]] for f, a in self.resolve_cases.values()]
                       + [[self.admins[1]["username"], self.resolved_form["id"]],
                          [self.non_admin["username"], unresolved[2]["id"]]],
            "reset": [[u["username"], u["current_pw_token"], now - 60] for u in self.reset_users.values()]
                     + [[self.never_set["username"], self.never_set["current_pw_token"], now - 60],
                        [with_pw[42]["username"], with_pw[42]["current_pw_token"] - 1, now - 60],
                        [with_pw[42]["username"], with_pw[42]["current_pw_token"], now - 3601]],
        }
        made = old_service(spec)
        for u, h in zip(with_pw, made["hashes"]):
            u["password"] = h
        for u in self.users:
            u.setdefault("password", None)
        links = made["resolve_links"]
        self.resolve_links = {"sqlite": links[0], "mariadb": links[1]}
        self.resolve_link_resolved, self.resolve_link_not_admin = links[2], links[3]
        links = made["reset_links"]
        self.reset_links = {"sqlite": links[0], "mariadb": links[1]}
        self.reset_link_first_password, self.reset_link_stale, self.reset_link_expired = links[2:5]

    def fill(self, url: str) -> None:
        mysql_exec(url, [s.format(collate="") for s in OLD_SCHEMA], many=[
            ("INSERT INTO users (id, username, email, first_name, last_name, password, registration_time, "
             "is_admin, current_pw_token) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
             [(u["id"], u["username"], u["email"], u["first_name"], u["last_name"], u["password"],
               u["registration_time"], u["is_admin"], u["current_pw_token"]) for u in self.users]),
            ("INSERT INTO forms (id, submitter, time, customer_name, course, payment_method, amount, receipt, "
             "resolved_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
             [(f["id"], f["submitter_id"], f["time"], f["customer_name"], f["course"], f["payment_method"],
               f["amount"], f["receipt"], f["resolved_at"]) for f in self.forms]),
            ("INSERT INTO revoked_tokens (username, jti, expiry) VALUES (%s, %s, %s)", self.revoked_rows),
        ])

    def form_json(self, f: dict) -> dict:
        return {
            "id": f["id"], "submitter": f["submitter"], "time": utc(f["time"]),
            "customer_name": f["customer_name"], "course": f["course"], "payment_method": f["payment_method"],
            "amount": f"{f['amount']:.2f}",
            "receipt": f["receipt"], "resolved_at": utc(f["resolved_at"]) if f["resolved_at"] else None,
        }


def admin_url() -> str:
    url = os.environ.get("TEST_MYSQL_ADMIN_URL")
    if not url:
        pytest.fail("TEST_MYSQL_ADMIN_URL not set: run under local/harness.py (make test)", pytrace=False)
    return url


@pytest.fixture(scope="module")
def old():
    """The old service's database, filled; read-only for every test."""
    started = time.monotonic()
    deployment = OldDeployment()
    name, url = create_mysql_database(admin_url(), "flask_old", "utf8mb4_general_ci")
    deployment.fill(url)
    deployment.url = url
    print(f"old database built in {time.monotonic() - started:.1f} s")
    yield deployment
    drop_mysql_database(admin_url(), name)


def target_env(tmp: Path, database_url: str) -> dict:
    env = dict(os.environ)
    env.update({key: "" for key in SHIELDED_KEYS})
    env.update(DATABASE_URL=database_url, DATA_DIR=str(tmp), FLASK_ENV="development",
               FLASK_SECRET=FLASK_SECRET, JWT_SECRET=JWT_SECRET, PW_RESET_WINDOW="3600",
               ROOT_EMAIL="ops@example.test", ROOT_PASSWORD="", EMAIL_FROM="noreply@example.test",
               PUBLIC_HOST="bt.example.test")
    return env


def run_import(env: dict, url: str, *flags: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    done = subprocess.run([str(MIGRATE), "--import-flask", url, *flags], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    return done, time.monotonic() - started


class Target:
    def __init__(self, backend, tmp, database_url, sqlite_path, mysql_url):
        self.backend, self.tmp, self.database_url = backend, tmp, database_url
        self.sqlite_path, self.mysql_url = sqlite_path, mysql_url
        self.env = target_env(tmp, database_url)

    def sql(self, query: str, params=()) -> list[dict]:
        return run_sql(self.sqlite_path, self.mysql_url, query, params)

    def counts(self) -> dict:
        return {t: self.sql(f"SELECT COUNT(*) AS n FROM {t}")[0]["n"]
                for t in ("users", "forms", "revoked_tokens", "flask_import")}

    def get(self, path, **kw):
        kw.setdefault("timeout", 60)
        return requests.get(self.base + path, **kw)

    def post(self, path, **kw):
        kw.setdefault("timeout", 60)
        return requests.post(self.base + path, **kw)


@pytest.fixture(scope="module", params=["sqlite", "mariadb"])
def target(request, old, tmp_path_factory):
    """A new, empty database of each engine, the import into it, a server on it."""
    backend = request.param
    tmp = tmp_path_factory.mktemp(f"flask-import-{backend}")
    name = None
    if backend == "sqlite":
        path = tmp / "bt.db"
        t = Target(backend, tmp, f"sqlite://{path}?mode=rwc", path, None)
    else:
        name, url = create_mysql_database(admin_url(), "flask_new", "utf8mb4_general_ci")
        t = Target(backend, tmp, url, None, url)
    proc = None
    try:
        t.first, t.import_seconds = run_import(t.env, old.url)
        assert t.first.returncode == 0, f"import failed:\n{t.first.stdout}\n{t.first.stderr}"
        print(f"[{backend}] import of {N_USERS} users, {N_FORMS} forms: {t.import_seconds:.2f} s (debug build)")
        proc, t.base = start_stack(tmp, **t.env)
        yield t
    finally:
        if proc is not None:
            stop_server(proc)
        if name:
            drop_mysql_database(admin_url(), name)


def test_import_copies_everything_and_verifies(old, target):
    out = target.first.stdout
    assert re.search(r"verification: users\s+211\s+211\s+ok", out), out
    assert re.search(rf"verification: forms\s+{N_FORMS}\s+{N_FORMS}\s+ok", out), out
    assert re.search(rf"revoked tokens \(distinct jti\)\s+{old.distinct_jtis}\s+{old.distinct_jtis}\s+ok", out), out
    total = sum(f["amount"] for f in old.forms)
    assert re.search(rf"sum of all amounts\s+{re.escape(f'{total:.2f}')}\s+{re.escape(f'{total:.2f}')}\s+ok", out), out
    assert "forms: 1000 of 5000 done" in out  # a progress line per batch
    assert f"import complete: {N_USERS} users, {N_FORMS} forms, {old.distinct_jtis} revoked tokens" in out
    assert target.counts() == {"users": N_USERS, "forms": N_FORMS, "revoked_tokens": old.distinct_jtis,
                               "flask_import": 1}
    # ids, names and e-mails exactly as stored; the old root is the root
    rows = {r["id"]: r for r in target.sql("SELECT id, username, email, first_name, last_name, is_admin, "
                                           "registration_time, password_link_counter FROM users")}
    for u in old.users:
        r = rows[u["id"]]
        assert (r["username"], r["email"], r["first_name"], r["last_name"]) == \
            (u["username"], u["email"], u["first_name"], u["last_name"])
        assert (bool(r["is_admin"]), r["registration_time"], r["password_link_counter"]) == \
            (u["is_admin"], utc(u["registration_time"]), u["current_pw_token"])
    print(f"[{target.backend}] import time for the {N_FORMS}-form set: {target.import_seconds:.2f} s")


def test_every_old_password_logs_in_and_is_upgraded_to_argon2id(old, target):
    with_pw = [u for u in old.users if u["plain"]]
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda u: login(target, u["username"], u["plain"]), with_pw))
    elapsed = time.monotonic() - started
    for u, r in zip(with_pw, answers):
        assert r.status_code == 200, (u["username"], r.status_code, r.text)
        assert set(r.json()) == {"access_token", "refresh_token"}
    hashes = {r["username"]: r["password_hash"] for r in target.sql("SELECT username, password_hash FROM users")}
    assert all(hashes[u["username"]].startswith("$argon2id$") for u in with_pw)
    assert hashes[old.never_set["username"]] is None
    print(f"[{target.backend}] {len(with_pw)} old passwords logged in in {elapsed:.1f} s")
    # the upgraded hash keeps working; wrong passwords never did
    for u in with_pw[:3]:
        assert login(target, u["username"], u["plain"]).status_code == 200
        r = login(target, u["username"], u["plain"] + "x")
        assert (r.status_code, r.json()) == (401, {"message": "Invalid credentials"})
    r = login(target, old.never_set["username"], "anything")
    assert (r.status_code, r.json()) == (400, {"message": "Your password is not set"})


def test_a_wrong_password_against_an_old_hash_is_refused_and_keeps_it(old, target):
    u = old.users[-1]
    assert u["plain"]
    before = target.sql("SELECT password_hash FROM users WHERE id = ?", (u["id"],))[0]["password_hash"]
    r = login(target, u["username"], "not-" + u["plain"])
    assert (r.status_code, r.json()) == (401, {"message": "Invalid credentials"})
    after = target.sql("SELECT password_hash FROM users WHERE id = ?", (u["id"],))[0]["password_hash"]
    assert after == before


def test_old_tokens_work_and_revoked_ones_stay_revoked(old, target):
    u = old.users[50]
    r = target.post(TOKEN, headers=auth(u["refresh"]))
    assert r.status_code == 200, r.text
    fresh_access = r.json()["access_token"]
    me = target.get(LOGIN, headers=auth(fresh_access))
    assert me.status_code == 200 and me.json()["username"] == u["username"]
    me = target.get(LOGIN, headers=auth(u["access"]))
    assert me.status_code == 200 and me.json()["id"] == u["id"]
    for revoked in old.revoked:
        r = target.post(TOKEN, headers=auth(revoked["refresh"]))
        assert (r.status_code, r.json()) == (401, {"message": "Token has been revoked"})


def test_every_form_reads_back_identical_for_its_owner_and_for_an_admin(old, target):
    expected = [old.form_json(f) for f in old.forms]
    # before anything below resolves one of them
    everything = target.get(FORM, headers=auth(old.root["access"]))
    assert everything.status_code == 200
    got = everything.json()
    changed = {case[0]["id"] for case in old.resolve_cases.values()}
    assert [f for f in got if f["id"] not in changed] == [f for f in expected if f["id"] not in changed]
    assert len(got) == N_FORMS
    by_owner: dict[str, list] = {}
    for f in expected:
        by_owner.setdefault(f["submitter"], []).append(f)

    def own(u):
        r = target.get(FORM, headers=auth(u["access"]))
        return u, r

    with ThreadPoolExecutor(4) as pool:
        for u, r in pool.map(own, [u for u in old.users if not u["is_admin"]]):
            assert r.status_code == 200, r.text
            mine = [f for f in r.json() if f["id"] not in changed]
            assert mine == [f for f in by_owner.get(u["username"], []) if f["id"] not in changed], u["username"]


def test_an_old_resolve_link_resolves_and_emails_the_submitter(old, target):
    form, admin = old.resolve_cases[target.backend]
    link = old.resolve_links[target.backend]
    r = target.get("/resolve", params={"token": link})
    assert r.status_code == 200, r.text
    assert f"Form no. {form['id']} was resolved successfully." in r.text
    row = target.sql("SELECT resolved_at FROM forms WHERE id = ?", (form["id"],))[0]
    assert row["resolved_at"] is not None
    submitter = next(u for u in old.users if u["id"] == form["submitter_id"])
    mails = target.sql("SELECT to_address, subject FROM email_outbox WHERE subject = ?", (f"Form no. {form['id']}",))
    assert [m["to_address"] for m in mails] == [submitter["email"]]
    # the same checks as new links: once only; resolved forms; admins only
    r = target.get("/resolve", params={"token": link})
    assert r.status_code == 400 and f"Form {form['id']} has already been resolved." in r.text
    r = target.get("/resolve", params={"token": old.resolve_link_resolved})
    assert r.status_code == 400 and "has already been resolved" in r.text
    r = target.get("/resolve", params={"token": old.resolve_link_not_admin})
    assert r.status_code == 422 and "no longer an administrator" in r.text
    r = target.get("/resolve", params={"token": link[:-2] + ("AA" if not link.endswith("AA") else "BB")})
    assert r.status_code == 422 and "This token is invalid" in r.text


def test_an_old_password_link_sets_a_password(old, target):
    u = old.reset_users[target.backend]
    link = old.reset_links[target.backend]
    page = target.get("/reset-password", params={"token": link})
    assert page.status_code == 200, page.text
    r = target.post("/reset-password", data={"token": link, "password": "brand-new-ß"})
    assert r.status_code == 200 and "Password saved" in r.text, r.text
    assert login(target, u["username"], "brand-new-ß").status_code == 200
    assert login(target, u["username"], u["plain"]).status_code == 401
    r = target.get("/reset-password", params={"token": link})
    assert r.status_code == 422 and "This token has already been used" in r.text
    r = target.get("/reset-password", params={"token": old.reset_link_stale})
    assert r.status_code == 422 and "This token has already been used" in r.text
    r = target.get("/reset-password", params={"token": old.reset_link_expired})
    assert r.status_code == 422 and "This token has expired" in r.text
    # a user who never set a password gets the old link's "set" page
    r = target.get("/reset-password", params={"token": old.reset_link_first_password})
    assert r.status_code == 200, r.text


def test_a_second_import_changes_nothing(old, target):
    before = target.counts()
    hashes = target.sql("SELECT id, password_hash, password_link_counter, is_admin FROM users ORDER BY id")
    resolved = target.sql("SELECT id, resolved_at FROM forms ORDER BY id")
    again, seconds = run_import(target.env, old.url)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "nothing to import: every row was already there, nothing changed" in again.stdout
    assert re.search(r"verification: forms\s+5000\s+5000\s+ok", again.stdout)
    assert target.counts() == before
    assert target.sql("SELECT id, password_hash, password_link_counter, is_admin FROM users ORDER BY id") == hashes
    assert target.sql("SELECT id, resolved_at FROM forms ORDER BY id") == resolved


def test_a_non_empty_target_is_refused_without_the_flag(old, tmp_path):
    env = target_env(tmp_path, f"sqlite://{tmp_path / 'bt.db'}?mode=rwc")
    env["ROOT_PASSWORD"] = "new-root-password"
    subprocess.run([str(MIGRATE)], cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)
    proc, base = start_stack(tmp_path, **env)
    try:
        # not imported: the old formats mean nothing here
        r = requests.get(base + "/resolve", params={"token": old.resolve_links["sqlite"]}, timeout=60)
        assert r.status_code == 422 and "This token is invalid" in r.text
        r = requests.get(base + "/reset-password", params={"token": old.reset_links["sqlite"]}, timeout=60)
        assert r.status_code == 422 and "This token is invalid" in r.text
    finally:
        stop_server(proc)
    refused, _ = run_import(env, old.url)
    assert refused.returncode != 0
    assert "already holds 1 user(s) and 0 form(s)" in refused.stderr and "--allow-non-empty" in refused.stderr
    db = Target("sqlite", tmp_path, env["DATABASE_URL"], tmp_path / "bt.db", None)
    assert db.counts() == {"users": 1, "forms": 0, "revoked_tokens": 0, "flask_import": 0}
    # told otherwise, it still never merges users: the new root (id 1) and the old one
    # (id 2) are reported, and nothing is copied
    done, _ = run_import(env, old.url, "--allow-non-empty")
    assert done.returncode != 0
    assert f'username "root" (old user {old.root["id"]}) is already taken by user 1 of the target' in done.stderr
    assert db.counts() == {"users": 1, "forms": 0, "revoked_tokens": 0, "flask_import": 0}
    # with the colliding user gone from the target, the rest is added beside what is there
    db.sql("UPDATE users SET username = 'newroot', username_key = 'newroot', id = 999 WHERE id = 1")
    done, _ = run_import(env, old.url, "--allow-non-empty")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"users: {N_USERS} read, {N_USERS} copied, 0 already there" in done.stdout
    assert db.counts() == {"users": N_USERS + 1, "forms": N_FORMS, "revoked_tokens": old.distinct_jtis,
                           "flask_import": 1}


def test_users_colliding_ignoring_case_are_reported_and_nothing_is_copied(tmp_path):
    name, url = create_mysql_database(admin_url(), "flask_collide", "utf8mb4_general_ci")
    try:
        when = datetime(2020, 5, 17, 12, 0, 0)
        mysql_exec(url, [s.format(collate="COLLATE utf8mb4_bin") for s in OLD_SCHEMA], many=[
            ("INSERT INTO users (id, username, email, first_name, last_name, password, registration_time, "
             "is_admin, current_pw_token) VALUES (%s, %s, %s, %s, NULL, NULL, %s, 0, 0)",
             [(1, "root", "root@old.test", "Root", when), (2, "Alice", "alice@old.test", "Alice", when),
              (3, "alice", "alice2@old.test", "Alice", when), (4, "bob", "Bob@Old.test", "Bob", when),
              (5, "bobby", "bob@old.test", "Bob", when)]),
        ])
        env = target_env(tmp_path, f"sqlite://{tmp_path / 'bt.db'}?mode=rwc")
        done, _ = run_import(env, url)
        assert done.returncode != 0
        err = done.stderr
        assert "collide under the case-insensitive keys" in err, err
        assert 'username "Alice" (user 2) and "alice" (user 3)' in err, err
        assert 'email "Bob@Old.test" (user 4) and "bob@old.test" (user 5)' in err, err
        db = Target("sqlite", tmp_path, env["DATABASE_URL"], tmp_path / "bt.db", None)
        assert db.counts() == {"users": 0, "forms": 0, "revoked_tokens": 0, "flask_import": 0}
        # the old database as the target: refused before anything connects to it
        same, _ = run_import(dict(env, DATABASE_URL=url), url)
        assert same.returncode != 0 and "is the old one" in same.stderr, same.stderr
        tables = run_sql(None, url, "SHOW TABLES")
        assert sorted(r[next(iter(r))] for r in tables) == ["forms", "revoked_tokens", "users"]
    finally:
        drop_mysql_database(admin_url(), name)
